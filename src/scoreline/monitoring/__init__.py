"""Data-quality and model-quality monitoring in SageMaker Model Monitor's file formats."""
