"""Model kit: a tiny offline Qwen2.5-VL checkpoint for tests/CI/demo, and loading of real or tiny checkpoints."""
