­
"serve¡
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
tableInitializeTableFromTextFileV2N
L

__inference_leak_2
rfReadFile
wf	WriteFile
mfMatchingFiles"¿