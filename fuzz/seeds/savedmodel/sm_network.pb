®
"serve¢
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
tableInitializeTableFromTextFileV2O
M

__inference_exfil_3#
cl	RpcClient*
shared_namec
callRpcCall"¿