# `checks.x86_64-linux.vm`: services.clawdbot booted in a NixOS VM (nixpkgs'
# runNixOSTest). Needs Nix >= 2.18 with KVM; our CI machines have neither, so there this
# file is only parsed, formatted and checked for the attribute (tests/nix/run.sh).
#
# What it proves on a real systemd: the unit reaches READY=1 with a token from a
# credential file, the admin `clawdbot` command talks to it, `systemctl reload` is a
# config reload counted in `status`, a changed config restarts the unit, and switching
# back to the previous configuration (a rollback) starts the old config on the same
# state: the device paired and the session made before are still there.
{
  pkgs,
  nixosModule,
}:
pkgs.testers.runNixOSTest {
  name = "clawdbot-gateway";
  nodes.machine = _: {
    imports = [ nixosModule ];
    # A secret outside the store, as agenix or sops-nix would place it.
    systemd.tmpfiles.rules = [
      "f /run/keys/clawdbot-token 0400 root root - 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    ];
    services.clawdbot = {
      enable = true;
      secrets.gateway-token = "/run/keys/clawdbot-token";
      settings.agents.list = [ { id = "main"; } ];
    };
    # The "new" generation: a changed config (a restart), switched to and back from.
    specialisation.changed.configuration = {
      services.clawdbot.settings.agents.defaults.heartbeat.every = "45m";
    };
  };

  testScript = ''
    import json

    def call(method, params="{}"):
        out = machine.succeed(f"clawdbot gateway call {method} --json --params '{params}'")
        return json.loads(out)

    def main_pid():
        return machine.succeed("systemctl show -p MainPID --value clawdbot-gateway").strip()

    base = machine.succeed("readlink -f /run/current-system").strip()
    machine.wait_for_unit("clawdbot-gateway.service")  # Type=notify: after READY=1
    machine.succeed("clawdbot health")
    # The token reached the gateway as a credential, not through the store.
    machine.succeed(
        "cfg=$(systemctl show -p Environment --value clawdbot-gateway"
        " | tr ' ' '\\n' | sed -n 's/^CLAWDBOT_CONFIG_PATH=//p');"
        ' test -f "$cfg" && ! grep -q 0123456789abcdef "$cfg"'
    )

    def paired_ids():
        listed = json.loads(machine.succeed("clawdbot devices list --json"))
        return sorted(d["deviceId"] for d in listed["paired"])

    # State made under the first generation: a paired device (the admin CLI, approved
    # silently as a local client) and a session.
    devices = paired_ids()
    assert len(devices) >= 1, devices
    call("sessions.patch", '{"key":"vmtest","label":"made before the switch"}')

    # systemctl reload: a config reload (SIGHUP), counted in status, same process.
    pid = main_pid()
    machine.succeed("systemctl reload clawdbot-gateway")
    machine.wait_until_succeeds(
        "clawdbot gateway call status --json | grep -q '\"reloads\": *1'"
    )
    assert main_pid() == pid, "reload restarted the unit"

    # A changed config restarts the unit on the new checked config.
    machine.succeed(f"{base}/specialisation/changed/bin/switch-to-configuration test")
    machine.wait_for_unit("clawdbot-gateway.service")
    assert main_pid() != pid, "a changed config did not restart the unit"
    machine.succeed("clawdbot health")

    # Rollback: the previous generation's config, on the same state.
    changed_pid = main_pid()
    machine.succeed(f"{base}/bin/switch-to-configuration test")
    machine.wait_for_unit("clawdbot-gateway.service")
    assert main_pid() != changed_pid, "the rollback did not restart the unit"
    machine.succeed("clawdbot health")
    sessions = call("sessions.list")
    assert any("vmtest" in s["key"] for s in sessions["sessions"]), sessions
    assert paired_ids() == devices, "the paired device did not survive the rollback"
  '';
}
