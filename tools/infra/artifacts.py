"""Pinned Java artifacts of the local infrastructure, resolved from Maven Central into a classpath.

Kafka, Cassandra (our local stand-in for ScyllaDB) and the Aeron media driver are published on Maven
Central as jars, not as runnable distributions, so each component is declared here as a list of
Maven coordinates. `classpath()` writes a throwaway pom per component, asks Maven to resolve it (the
jars land in ~/.m2, which is what makes a second run, or CI on the same machine, warm) and caches the
resulting classpath string under `.local/infra/<component>/`.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCAL_DIR = REPO_ROOT / ".local"
INFRA_DIR = LOCAL_DIR / "infra"

KAFKA_VERSION = "4.3.1"
CASSANDRA_VERSION = "5.0.9"
AERON_VERSION = "1.51.0"

# component -> Maven coordinates (group:artifact:version) whose transitive closure is the classpath.
COMPONENTS: dict[str, tuple[str, ...]] = {
    "kafka": (
        f"org.apache.kafka:kafka_2.13:{KAFKA_VERSION}",
        f"org.apache.kafka:kafka-server:{KAFKA_VERSION}",
        f"org.apache.kafka:kafka-tools:{KAFKA_VERSION}",
        "org.slf4j:slf4j-reload4j:1.7.36",
    ),
    "cassandra": (f"org.apache.cassandra:cassandra-all:{CASSANDRA_VERSION}",),
    "aeron": (f"io.aeron:aeron-all:{AERON_VERSION}",),
}

MAVEN_TIMEOUT_S = 900


def _pom(component: str, coordinates: tuple[str, ...]) -> str:
    dependencies = []
    for coordinate in coordinates:
        group, artifact, version = coordinate.split(":")
        dependencies.append(
            f"<dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId>"
            f"<version>{version}</version></dependency>"
        )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        f"<groupId>local.exchange-core</groupId><artifactId>infra-{component}</artifactId><version>1</version>"
        f"<dependencies>{''.join(dependencies)}</dependencies></project>\n"
    )


def classpath(component: str) -> str:
    """Return the resolved classpath of `component`, resolving with Maven on first use (then cached)."""
    coordinates = COMPONENTS[component]
    pom_text = _pom(component, coordinates)
    work_dir = INFRA_DIR / component
    work_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(pom_text.encode()).hexdigest()[:16]
    cached = work_dir / f"classpath-{digest}.txt"
    if cached.exists():
        text = cached.read_text().strip()
        if text and all(Path(entry).exists() for entry in text.split(":")):
            return text
    (work_dir / "pom.xml").write_text(pom_text)
    print(f"resolving {component} from Maven Central ({', '.join(coordinates)}) ...", file=sys.stderr, flush=True)
    subprocess.run(
        ["mvn", "--batch-mode", "--quiet", "--no-transfer-progress", "-Dstyle.color=never",
         "-f", str(work_dir / "pom.xml"), "dependency:build-classpath", f"-Dmdep.outputFile={cached}"],
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=MAVEN_TIMEOUT_S,
    )
    return cached.read_text().strip()


def main() -> None:
    """CLI: `python -m tools.infra.artifacts classpath aeron` prints the classpath."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["classpath"])
    parser.add_argument("component", choices=sorted(COMPONENTS))
    args = parser.parse_args()
    print(classpath(args.component))


if __name__ == "__main__":
    main()
