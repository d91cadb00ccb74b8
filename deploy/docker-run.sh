#!/bin/sh
# Serve every model of an export base with the official TF Serving image (gRPC 8500, REST 8501).
# models.config is written for the container's /models mount by:
#   python -m serving.config --export-dir exported --out exported/models.config --container-base /models
set -eu
EXPORT_DIR="${1:-$(pwd)/exported}"
exec docker run --rm -p 8500:8500 -p 8501:8501 \
  --mount "type=bind,source=${EXPORT_DIR},target=/models,readonly" \
  tensorflow/serving:2.19.1 \
  --model_config_file=/models/models.config \
  --enable_model_warmup=true \
  --enable_batching=true --batching_parameters_file=/models/batching.config \
  --file_system_poll_wait_seconds=1
