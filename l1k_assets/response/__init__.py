"""Drug response: GDSC, STRING and compound sources, CSG2A pretraining and fine-tuning (method 4)."""
