# The program behind `nix run .#gateway`: starts the daemon (`clawdbot gateway`) and passes
# every argument through (`nix run .#gateway -- --port 3000`).
{
  writeShellScript,
  gateway,
}:
writeShellScript "clawdbot-gateway" ''
  exec ${gateway}/bin/clawdbot gateway "$@"
''
