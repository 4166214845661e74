# The gateway as an OCI image built by Nix (`nix build .#dockerImage`, Linux only). Its
# runtime contract (user, HOME, working dir, port, health check, command, no entrypoint)
# is read from container-contract.json, the file the Dockerfile's checks read too, so the
# two images cannot drift. busybox gives the agent's `sh` and the health check's `wget`;
# /usr/local/bin holds the same paths as the Dockerfile's image (compose's health check
# and `clawdbot` on PATH). Load with `docker load < result`.
{
  dockerTools,
  gateway,
  busybox,
}:
let
  contract = builtins.fromJSON (builtins.readFile ./container-contract.json);
  inherit (contract) healthcheck;
  seconds = s: s * 1000000000;
  ids = builtins.head (builtins.split ":" contract.user);
  home = builtins.substring 1 (builtins.stringLength contract.home) contract.home;
  dirCommands = builtins.concatStringsSep "\n" (
    map (d: "mkdir -p .${d}") (builtins.attrNames contract.dirs)
  );
  modeCommands = builtins.concatStringsSep "\n" (
    map (d: "chmod ${contract.dirs.${d}} .${d}") (builtins.attrNames contract.dirs)
  );
in
dockerTools.buildLayeredImage {
  name = "clawdbot";
  tag = gateway.version;
  contents = [
    gateway
    busybox
    dockerTools.caCertificates
  ];
  # The runtime user and its writable directories (the image has no other writable place).
  extraCommands = ''
    mkdir -p etc tmp usr/local/bin ${home}
    ${dirCommands}
    chmod 1777 tmp
    ln -s /bin/busybox usr/local/bin/busybox
    ln -s /bin/clawdbot usr/local/bin/clawdbot
    printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'node:x:${ids}:${ids}:clawdbot:${contract.home}:/bin/sh' > etc/passwd
    printf '%s\n' 'root:x:0:' 'node:x:${ids}:' > etc/group
  '';
  fakeRootCommands = ''
    chown -R ${contract.user} ${home}
    ${modeCommands}
  '';
  config = {
    User = contract.user;
    WorkingDir = contract.workdir;
    Env = (map (k: "${k}=${contract.env.${k}}") (builtins.attrNames contract.env)) ++ [
      "PATH=/usr/local/bin:/bin"
    ];
    Entrypoint = contract.entrypoint;
    Cmd = contract.cmd;
    ExposedPorts."${toString contract.port}/tcp" = { };
    Healthcheck = {
      Test = [ "CMD" ] ++ healthcheck.test;
      # Nanoseconds.
      Interval = seconds healthcheck.interval_s;
      Timeout = seconds healthcheck.timeout_s;
      StartPeriod = seconds healthcheck.start_period_s;
      Retries = healthcheck.retries;
    };
  };
}
