Î
"serveÂ
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
tableInitializeTableFromTextFileV2o
m

__inference_ds_4
csvCSVDatasetV2
sql
SqlDataset
saveSaveDatasetV2
recDatasetToTFRecord"¿