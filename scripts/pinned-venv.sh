# Sourced: `pinned_venv DIR "PINS" [PYTHON]` makes DIR a Python venv holding exactly PINS (a pip requirement list),
# installed from the machine's pip index with `--retries 0`: an unreachable default index fails at once instead of
# being retried for every package (a plain `pip install jupyterlab` took 11 min 40 s here that way). The pins are
# stamped in DIR/xft-pins.txt, so a second call with the same pins does nothing. A venv whose Python no longer runs
# is made afresh. Returns 1 with the reason in $PINNED_VENV_FAILURE when the install fails.
pinned_venv() {
  local venv="$1" pins="$2" python="${3:-python3}" log start
  PINNED_VENV_FAILURE=""
  if [ -e "$venv" ] && ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then rm -rf "$venv"; fi
  [ "$(cat "$venv/xft-pins.txt" 2>/dev/null)" = "$pins" ] && return 0
  echo "installing $pins into $venv"
  log="$(mktemp)"
  start=$SECONDS
  # shellcheck disable=SC2086  # pins is a word list on purpose
  if { [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"; } >"$log" 2>&1 \
    && "$venv/bin/python" -m pip install --retries 0 -q $pins >>"$log" 2>&1; then
    echo "$pins" >"$venv/xft-pins.txt"
    echo "installed into $venv in $((SECONDS - start)) s"
    rm -f "$log"
    return 0
  fi
  PINNED_VENV_FAILURE="$(grep -v '^[[:space:]]*$' "$log" | tail -n 1 || true)"
  rm -f "$log" "$venv/xft-pins.txt"
  return 1
}
