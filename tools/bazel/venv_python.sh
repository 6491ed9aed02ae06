#!/bin/sh
# The Python interpreter of Bazel's Python rules: the project's virtualenv (.venv at the
# workspace root, which `make test` creates), so TensorFlow and the other dependencies are found.
here="$(dirname "$(readlink -f "$0")")"
python="$here/../../.venv/bin/python"
if [ ! -x "$python" ]; then
  echo "Bazel's Python rules use $python, which does not exist: run 'make test' (or" \
       "'make lint') once in the workspace to create the virtualenv." >&2
  exit 1
fi
exec "$python" "$@"
