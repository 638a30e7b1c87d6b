"""Run folders: ``{dataset}/{profile}/{method}/fold{k}/seed{s}``, their files, and loading a trained model."""
