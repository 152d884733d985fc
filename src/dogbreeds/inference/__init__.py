"""Photos in, breeds out, without torch: the Predictor, its runtimes (ONNX Runtime, OpenVINO), int8 copies."""
