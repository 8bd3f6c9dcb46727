# Sourced by the scripts in this folder: a project virtualenv with sagepipe installed.
# SAGEPIPE_VENV picks another location; the extra ("test", ...) comes from $1.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${SAGEPIPE_VENV:-$root/.venv}"
extra="${1:-}"
if [ ! -x "$venv/bin/python" ]; then
  echo "==> creating $venv" >&2
  python3 -m venv "$venv"
fi
# Reinstall only when the project's requirements changed since the last install.
stamp="$venv/.sagepipe-installed${extra:+-$extra}"
if [ ! -f "$stamp" ] || [ "$root/pyproject.toml" -nt "$stamp" ]; then
  echo "==> installing sagepipe${extra:+[$extra]} into $venv" >&2
  "$venv/bin/python" -m pip install -q --upgrade pip >&2
  "$venv/bin/python" -m pip install -q -e "$root${extra:+[$extra]}" >&2
  touch "$stamp"
fi
export PATH="$venv/bin:$PATH"
cd "$root"
