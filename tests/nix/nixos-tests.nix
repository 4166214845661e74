# Tier B: the NixOS module in the real module system (nixpkgs.lib), via our harness.
# `artifacts` are built with nix-build (tests/nix/run.sh): the unit file, and probes of
# the build-time config check run by the real gateway binary (`gatewayBin`).
{
  lib,
  gatewayBin ? null,
  ...
}:
let
  h = import ./harness/nixos.nix { inherit lib gatewayBin; };
  enabled =
    extra:
    h.checked [
      {
        services.clawdbot = {
          enable = true;
        }
        // extra;
      }
    ];
  svc = extra: (enabled extra).systemd.services.clawdbot-gateway;
  sc = extra: (svc extra).serviceConfig;
  serverConfig = {
    services.clawdbot = {
      enable = true;
      secrets.gateway-token = "/run/keys/clawdbot-token";
      settings.gateway.bind = "lan";
      settings.agents.list = [ { id = "main"; } ];
    };
  };
  # A file that depends on the checked config: building it runs `clawdbot check-config`.
  probe =
    settings:
    h.pkgs.writeText "config-probe"
      (h.checked [
        {
          services.clawdbot = {
            enable = true;
            inherit settings;
          };
        }
      ]).systemd.services.clawdbot-gateway.environment.CLAWDBOT_CONFIG_PATH;
in
{
  artifacts = {
    unit = h.pkgs.writeText "clawdbot-gateway.service" (
      h.render (h.checked [ serverConfig ]).systemd.services.clawdbot-gateway
    );
    goodConfig = probe { agents.list = [ { id = "main"; } ]; };
    badConfig = probe { gateway.prot = 1; };
  };

  cases = {
    disabledDefinesNothing = {
      actual =
        let
          c = h.checked [ ];
        in
        {
          services = c.systemd.services;
          users = c.users.users;
        };
      expected = {
        services = { };
        users = { };
      };
    };
    serviceShape = {
      actual =
        let
          s = sc { };
        in
        {
          inherit (s)
            Type
            Restart
            WatchdogSec
            User
            Group
            StateDirectory
            ;
          execStart = lib.hasSuffix "/bin/clawdbot gateway " s.ExecStart;
          wantedBy = (svc { }).wantedBy;
        };
      expected = {
        Type = "notify";
        Restart = "on-failure";
        WatchdogSec = 30;
        User = "clawdbot";
        Group = "clawdbot";
        StateDirectory = "clawdbot";
        execStart = true;
        wantedBy = [ "multi-user.target" ];
      };
    };
    nixModeEnvironmentAndCheckedConfig = {
      actual =
        let
          e = (svc { }).environment;
        in
        {
          inherit (e) CLAWDBOT_NIX_MODE CLAWDBOT_STATE_DIR;
          checked = lib.hasSuffix "-clawdbot-config.json" e.CLAWDBOT_CONFIG_PATH;
          restartsOnChange = (svc { }).restartTriggers != [ ];
        };
      expected = {
        CLAWDBOT_NIX_MODE = "1";
        CLAWDBOT_STATE_DIR = "/var/lib/clawdbot";
        checked = true;
        restartsOnChange = true;
      };
    };
    hardening = {
      actual = lib.getAttrs [
        "ProtectSystem"
        "ProtectHome"
        "PrivateTmp"
        "NoNewPrivileges"
        "CapabilityBoundingSet"
        "MemoryDenyWriteExecute"
        "UMask"
        "SystemCallFilter"
        "RestrictAddressFamilies"
      ] (sc { });
      expected = {
        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
        NoNewPrivileges = true;
        CapabilityBoundingSet = "";
        MemoryDenyWriteExecute = true;
        UMask = "0077";
        SystemCallFilter = [
          "@system-service"
          "~@privileged"
          "~@resources"
        ];
        RestrictAddressFamilies = [
          "AF_INET"
          "AF_INET6"
          "AF_UNIX"
        ];
      };
    };
    secretsBecomeCredentials = {
      actual = (sc { secrets.gateway-token = "/run/agenix/clawdbot-token"; }).LoadCredential;
      expected = [ "gateway-token:/run/agenix/clawdbot-token" ];
    };
    systemUserAndGroup = {
      actual = {
        user = (enabled { }).users.users.clawdbot.isSystemUser;
        groups = lib.attrNames (enabled { }).users.groups;
        custom = (enabled { user = "alice"; }).users.users;
      };
      expected = {
        user = true;
        groups = [ "clawdbot" ];
        custom = { };
      };
    };
    firewall = {
      actual = {
        closed = (enabled { }).networking.firewall.allowedTCPPorts;
        open =
          (enabled {
            openFirewall = true;
            settings.gateway.port = 3000;
          }).networking.firewall.allowedTCPPorts;
      };
      expected = {
        closed = [ ];
        open = [ 3000 ];
      };
    };
    customStateDirUsesTmpfiles = {
      actual =
        let
          c = enabled { stateDir = "/srv/clawdbot"; };
        in
        {
          rules = c.systemd.tmpfiles.rules;
          stateDirectory = c.systemd.services.clawdbot-gateway.serviceConfig ? StateDirectory;
        };
      expected = {
        rules = [ "d /srv/clawdbot 0700 clawdbot clawdbot - -" ];
        stateDirectory = false;
      };
    };
    extraArgsAreEscaped = {
      actual =
        lib.hasSuffix "gateway --verbose 'a b'"
          (sc {
            extraArgs = [
              "--verbose"
              "a b"
            ];
          }).ExecStart;
      expected = true;
    };
    lanWithTokenIsFine = {
      actual =
        (sc {
          settings.gateway.bind = "lan";
          secrets.gateway-token = "/run/keys/t";
        }).Type;
      expected = "notify";
    };
    secretInStoreFails = {
      actual = sc { secrets.gateway-token = "/nix/store/abc-token"; };
      expectedError = "a secret file is inside /nix/store";
    };
    inlineSecretFails = {
      actual = sc { settings.gateway.auth.token = "hunter2"; };
      expectedError = "contains inline secrets (gateway.auth.token)";
    };
    lanWithoutAuthFails = {
      actual = sc { settings.gateway.bind = "lan"; };
      expectedError = "exposes the gateway beyond loopback without auth";
    };
    typoIsAnError = {
      actual = sc { enabel = true; };
      expectedError = "services.clawdbot.enabel' does not exist";
    };
    badPortIsAnError = {
      actual = sc { settings.gateway.port = 70000; };
      expectedError = "services.clawdbot.settings.gateway.port";
    };
  };
}
