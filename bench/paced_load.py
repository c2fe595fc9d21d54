"""Paced load generators for the benchmarks: small C programs doing syscalls at a set rate.

``build(name, source)`` compiles one once with clang into build/bench/ (cached by the
source's hash). Each program takes ``RATE SECONDS``: open/close pairs, or fork+exec of
/bin/true, per second. The open/close one takes a third argument, ``report``, to print
how many pairs it made (fewer than RATE x SECONDS when the machine could not keep up).

``OPEN_CLOSE_WORKERS_C`` takes ``RATE SECONDS WORKERS``: the same open/close pairs made by
WORKERS processes (RATE/WORKERS each, same start), each in a session of its own (so in an
autogroup of its own: on a shared machine each gets its own share of the CPU, as separate
workloads on a host do, instead of one share for the whole load); it prints the pairs
made by all of them.
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

OPEN_CLOSE_WORKERS_C = r"""
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}
int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: RATE SECONDS WORKERS\n"); return 2; }
    double rate = atof(argv[1]), secs = atof(argv[2]);
    int workers = atoi(argv[3]);
    if (workers < 1 || workers > 64) { fprintf(stderr, "WORKERS: 1 to 64\n"); return 2; }
    long *made = mmap(NULL, 64 * sizeof(long), PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (made == MAP_FAILED) { perror("mmap"); return 1; }
    double start = now() + 0.05; /* every worker paced from the same instant */
    double each = rate / workers;
    for (int w = 0; w < workers; w++) {
        pid_t p = fork();
        if (p < 0) { perror("fork"); return 1; }
        if (p > 0) continue;
        setsid();
        long done = 0;
        while (now() < start) {
            struct timespec s = {0, 1000000};
            nanosleep(&s, 0);
        }
        while (1) {
            double el = now() - start;
            if (el >= secs) break;
            long due = (long)(el * each);
            while (done < due) {
                int fd = open("/etc/hostname", O_RDONLY);
                if (fd >= 0) close(fd);
                done++;
            }
            struct timespec s = {0, 200000};
            nanosleep(&s, 0);
        }
        made[w] = done;
        _exit(0);
    }
    long total = 0;
    for (int w = 0; w < workers; w++) wait(NULL);
    for (int w = 0; w < workers; w++) total += made[w];
    printf("%ld\n", total); /* the pairs really made by all workers */
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
