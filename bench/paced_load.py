"""Paced load generators for the benchmarks: small C programs doing syscalls at a set rate.

``build(name, source)`` compiles one once with clang into build/bench/ (cached by the
source's hash). Each program takes ``RATE SECONDS``: open/close pairs, or fork+exec of
/bin/true, per second. The open/close one takes a third argument, ``report``, to print
how many pairs it made (fewer than RATE x SECONDS when the machine could not keep up).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

OPEN_CLOSE_C = r"""
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}
int main(int argc, char **argv) {
    double rate = atof(argv[1]), secs = atof(argv[2]);
    double start = now();
    long done = 0;
    while (1) {
        double el = now() - start;
        if (el >= secs) break;
        long due = (long)(el * rate);
        while (done < due) {
            int fd = open("/etc/hostname", O_RDONLY);
            if (fd >= 0) close(fd);
            done++;
        }
        struct timespec s = {0, 200000};
        nanosleep(&s, 0);
    }
    if (argc > 3) printf("%ld\n", done); /* REPORT: the pairs really made */
    return 0;
}
"""

EXEC_C = r"""
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}
int main(int argc, char **argv) {
    double rate = atof(argv[1]), secs = atof(argv[2]);
    double start = now();
    long done = 0;
    char *args[] = {"true", NULL};
    while (1) {
        double el = now() - start;
        if (el >= secs) break;
        long due = (long)(el * rate);
        while (done < due) {
            pid_t p = fork();
            if (p == 0) { execv("/bin/true", args); _exit(127); }
            if (p > 0) waitpid(p, NULL, 0);
            done++;
        }
        struct timespec s = {0, 1000000};
        nanosleep(&s, 0);
    }
    return 0;
}
"""


def build(name: str, source: str) -> Path:
    """Compile a paced load generator once (clang -O2) into build/bench/."""
    out = ROOT / "build" / "bench"
    binary = out / f"{name}-{hashlib.sha1(source.encode()).hexdigest()[:8]}"
    if not binary.exists():
        if not shutil.which("clang"):
            raise SystemExit("clang is needed to build the paced load generators")
        out.mkdir(parents=True, exist_ok=True)
        src = out / f"{name}.c"
        src.write_text(source)
        subprocess.run(["clang", "-O2", "-o", str(binary), str(src)], check=True)
    return binary
