"""Import edges between the layers of include/: core (the ground floor), stages, providers, the
Airflow layer (include/*.py) and the studio. Run: python scripts/import_graph.py [root]

stages and providers may import only core; core imports nothing else of the project."""
import ast
import pathlib
import sys

ROOT = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
def layer(mod):
    parts = mod.split(".")
    if parts[0] != "include": return None
    if len(parts) > 1 and parts[1] in ("core", "stages", "providers", "studio"): return parts[1]
    return "airflow"
edges = {}
for path in (ROOT / "include").rglob("*.py"):
    mod = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    src = layer(mod)
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for n in names:
            dst = layer(n)
            if dst and dst != src:
                edges.setdefault((src, dst), set()).add(mod)
allowed = {("stages", "core"), ("providers", "core"), ("airflow", "core"), ("airflow", "stages"),
           ("airflow", "providers"), ("studio", "core"), ("studio", "airflow"), ("studio", "stages")}
bad = 0
for (a, b), mods in sorted(edges.items()):
    flag = "" if (a, b) in allowed else "   <-- upward/sideways"
    bad += bool(flag)
    print(f"{a:9} -> {b:9} {len(mods):3} modules{flag}")
    if flag:
        print("      ", sorted(mods))
sys.exit(1 if bad else 0)
