#!/usr/bin/python3
"""The shared library exports qguard's public API and nothing else.

    check_exports.py LIBQGUARD_SO QGUARD_H EXPECTED_SONAME

Every defined dynamic symbol must be a C function of qguard.h (all of which must be there), or a
member of namespace qguard outside its internal lower-case namespaces (qguard::kernels, ...) and
the classes' private State, or the type information of a public class. No fmt, Eigen, simdjson or std symbol may leak.
"""
import re
import subprocess
import sys

library, header, expected_soname = sys.argv[1:4]

declared = set(re.findall(r"QGUARD_API[^;(]*?\b(qguard_\w+)\(", open(header, encoding="utf-8").read()))
symbols = subprocess.run(["nm", "-D", "--defined-only", "--format=posix", "-C", library], check=True,
                         capture_output=True, text=True).stdout.splitlines()
# posix format: "NAME TYPE VALUE SIZE"; demangled names contain spaces, so split from the right.
names = sorted({line.rsplit(" ", 3)[0] for line in symbols if line.strip()})

public_cpp = re.compile(r"qguard::(?:[A-Z]\w*::)*(?:operator\S+?|~?\w+)(?:\[abi:cxx11\])?(?:\(|$)")
type_info = re.compile(r"(?:typeinfo|typeinfo name|vtable) for qguard::[A-Z]\w*(?:::[A-Z]\w*)*$")
failures = []
for name in names:
    private_state = "::State::" in name.split("(")[0]  # what a public class keeps behind its pointer
    if name in declared or (public_cpp.match(name) and not private_state) or type_info.match(name):
        continue
    failures.append(f"exported but not public API: {name}")
failures += [f"declared in qguard.h but not exported: {name}" for name in sorted(declared - set(names))]

dynamic = subprocess.run(["objdump", "-p", library], check=True, capture_output=True, text=True).stdout
soname = re.search(r"SONAME\s+(\S+)", dynamic)
if not soname or soname.group(1) != expected_soname:
    failures.append(f"SONAME is {soname and soname.group(1)}, expected {expected_soname}")

for failure in failures:
    print("FAIL:", failure)
print(f"{len(names)} exported symbols, {len(declared)} C functions; {len(failures)} failures")
sys.exit(1 if failures else 0)
