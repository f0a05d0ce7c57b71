#!/bin/sh
# written by geak: the bundle configuration; banked decisions: d-config-max_num_seqs-32-0
exec env PYTHONPATH=/work/main/agents/engines/cpu_site VLLM_CPU_KVCACHE_SPACE=1 VLLM_CPU_OMP_THREADS_BIND=0 VLLM_SERVER_DEV_MODE=1 /work/main/.venv/bin/python -m vllm.entrypoints.openai.api_server --model /work/main/models/tiny-arith --host 127.0.0.1 --port 8000 --max-num-seqs 32 --seed 0 "$@"
