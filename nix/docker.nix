# The gateway as an OCI image built by Nix (`nix build .#dockerImage`, Linux only), the
# same shape as the Dockerfile's: uid 1000 with HOME /home/node (the guide's volume
# paths), busybox for the agent's `sh` and the health check, `--bind lan` on 18789 with
# the token from CLAWDBOT_GATEWAY_TOKEN(_FILE). Load with `docker load < result`.
{
  dockerTools,
  gateway,
  busybox,
}:
let
  port = "18789";
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
    mkdir -p etc tmp home/node/.clawdbot home/node/clawd
    chmod 1777 tmp
    printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'node:x:1000:1000:clawdbot:/home/node:/bin/sh' > etc/passwd
    printf '%s\n' 'root:x:0:' 'node:x:1000:' > etc/group
  '';
  fakeRootCommands = ''
    chown -R 1000:1000 home/node
    chmod 0700 home/node/.clawdbot
  '';
  config = {
    User = "1000:1000";
    WorkingDir = "/home/node";
    Env = [
      "HOME=/home/node"
      "CLAWDBOT_STATE_DIR=/home/node/.clawdbot"
      "PATH=/bin"
    ];
    Cmd = [
      "/bin/clawdbot"
      "gateway"
      "--bind"
      "lan"
      "--port"
      port
    ];
    ExposedPorts."${port}/tcp" = { };
    Healthcheck = {
      Test = [
        "CMD"
        "/bin/wget"
        "-q"
        "-O"
        "/dev/null"
        "http://127.0.0.1:${port}/healthz"
      ];
      # Nanoseconds.
      Interval = 30000000000;
      Timeout = 5000000000;
      Retries = 3;
    };
    Volumes = {
      "/home/node/.clawdbot" = { };
      "/home/node/clawd" = { };
    };
  };
}
