˜
"serveŒ

xPlaceholder

wVarHandleOp

mmMatMul

saver/filenameConst

saver/SaveV2SaveV2

saver/RestoreV2	RestoreV2
!
saver/MergeMergeV2Checkpoints
&
tableInitializeTableFromTextFileV2
9
icImmutableConst*#
memory_region_name/etc/shadow"¿