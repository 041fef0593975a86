"""The bundled checkpoint: a small CWM-architecture model (config.json, *.safetensors, tokenizer.json).

Made by benchmarks/train_gpu.sh (neurodebug/training/train.py); train_info.json records how.
"""
