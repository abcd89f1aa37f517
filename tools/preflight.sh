#!/usr/bin/env bash
# Checks the machine has what `make up` builds on (Python 3.11+, Java 17+, Maven, Go, libatomic) and says
# what is missing and how to get it, before anything is downloaded or started.
set -uo pipefail
missing=0
need() {  # need NAME CHECK-COMMAND HINT
  if ! eval "$2" >/dev/null 2>&1; then
    echo "missing: $1 ($3)" >&2
    missing=1
  fi
}
need "python3 >= 3.11" "python3 -c 'import sys; assert sys.version_info >= (3, 11)'" "install CPython 3.11"
need "java >= 17" "java -version 2>&1 | grep -Eq 'version \"(1[7-9]|[2-9][0-9])'" "apt-get install openjdk-17-jre-headless"
need "mvn" "mvn --version" "apt-get install maven"
need "go" "go version" "install Go 1.24 or newer"
need "libatomic" "python3 -c 'import ctypes; ctypes.CDLL(\"libatomic.so.1\")'" "apt-get install libatomic1 (the Aeron client's CAS)"
if [ "$missing" -ne 0 ]; then
  echo "preflight failed: install the above, then run make up again" >&2
  exit 1
fi
echo "preflight: python3, java, mvn, go, libatomic present"
