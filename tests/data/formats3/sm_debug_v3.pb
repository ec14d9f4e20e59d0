ô
"serveç
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
:
dbgDebugIdentityV3*"

debug_urls
file:///tmp/dump"ø