"""infimed: build, train, evaluate and deploy a medical multimodal LLM on low resources."""

__version__ = "0.1.0"
