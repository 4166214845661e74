# services.clawdbot: the gateway as a hardened system service.
#
# The config is rendered with pkgs.formats.json and validated at build time by the
# gateway's own `check-config`, so a bad config fails `nixos-rebuild` before anything is
# activated. Secrets are paths outside the store, handed over with LoadCredential.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.clawdbot;
  clib = import ../nix/lib.nix;
  json = pkgs.formats.json { };
  common = import ./options.nix { inherit lib pkgs json; };
  unit = "clawdbot-gateway";
  credentialDir = "/run/credentials/${unit}.service";

  settings = clib.stripNulls (
    clib.withSecretFiles cfg.settings (n: "${credentialDir}/${n}") cfg.secrets
  );
  configFile = import ./checked-config.nix {
    inherit pkgs settings;
    inherit (cfg) package configFile;
  };
  port = cfg.settings.gateway.port;
  hasAuth =
    cfg.secrets ? gateway-token
    || cfg.secrets ? gateway-password
    || (cfg.settings.gateway.auth.tokenFile or null) != null
    || (cfg.settings.gateway.auth.passwordFile or null) != null
    || cfg.environmentFile != null;
in
{
  options.services.clawdbot = common // {
    stateDir = lib.mkOption {
      type = lib.types.str;
      default = "/var/lib/clawdbot";
      description = "Runtime state (devices, sessions, logs); created by systemd when under /var/lib.";
    };

    user = lib.mkOption {
      type = lib.types.str;
      default = "clawdbot";
      description = "User to run as; created when left at the default.";
    };

    group = lib.mkOption {
      type = lib.types.str;
      default = "clawdbot";
      description = "Group to run as; created when left at the default.";
    };

    openFirewall = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = "Open the gateway port in the firewall.";
    };

  };

  config = lib.mkIf cfg.enable {
    assertions = clib.secretAssertions cfg ++ [
      {
        assertion = !(clib.isPublicBind cfg.settings.gateway.bind) || hasAuth;
        message = "services.clawdbot.settings.gateway.bind = \"${cfg.settings.gateway.bind}\" exposes the gateway beyond loopback without auth; set services.clawdbot.secrets.gateway-token (or gateway-password).";
      }
    ];

    users.users = lib.mkIf (cfg.user == "clawdbot") {
      clawdbot = {
        isSystemUser = true;
        inherit (cfg) group;
        home = cfg.stateDir;
        description = "clawdbot gateway";
      };
    };
    users.groups = lib.mkIf (cfg.group == "clawdbot") { clawdbot = { }; };

    networking.firewall.allowedTCPPorts = lib.mkIf cfg.openFirewall [ port ];

    systemd.tmpfiles.rules = lib.mkIf (!lib.hasPrefix "/var/lib/" cfg.stateDir) [
      "d ${cfg.stateDir} 0700 ${cfg.user} ${cfg.group} - -"
    ];

    systemd.services.${unit} = {
      description = "clawdbot gateway";
      wantedBy = [ "multi-user.target" ];
      after = [ "network-online.target" ];
      wants = [ "network-online.target" ];
      path = cfg.extraPackages;
      environment =
        clib.serviceEnvironment {
          inherit (cfg) stateDir logLevel;
          configPath = "${configFile}";
        }
        // clib.apiKeyEnv (n: "${credentialDir}/${n}") cfg.secrets;
      restartTriggers = [ configFile ];
      serviceConfig = {
        Type = "notify";
        NotifyAccess = "main";
        ExecStart = "${lib.getExe cfg.package} gateway ${lib.escapeShellArgs cfg.extraArgs}";
        ExecReload = "${pkgs.coreutils}/bin/kill -HUP $MAINPID";
        Restart = "on-failure";
        RestartSec = 2;
        WatchdogSec = 30;
        TimeoutStopSec = 15;
        User = cfg.user;
        Group = cfg.group;
        StateDirectory = lib.mkIf (lib.hasPrefix "/var/lib/" cfg.stateDir) (
          lib.removePrefix "/var/lib/" cfg.stateDir
        );
        StateDirectoryMode = "0700";
        WorkingDirectory = cfg.stateDir;
        LoadCredential = clib.credentials cfg.secrets;
        EnvironmentFile = lib.mkIf (cfg.environmentFile != null) cfg.environmentFile;
        # Hardening: a native daemon needs none of the relaxations Node required.
        UMask = "0077";
        NoNewPrivileges = true;
        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
        PrivateDevices = true;
        PrivateUsers = true;
        ProtectHostname = true;
        ProtectClock = true;
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectKernelLogs = true;
        ProtectControlGroups = true;
        ProtectProc = "invisible";
        ProcSubset = "pid";
        RestrictAddressFamilies = [
          "AF_INET"
          "AF_INET6"
          "AF_UNIX"
        ];
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        LockPersonality = true;
        MemoryDenyWriteExecute = true;
        RemoveIPC = true;
        CapabilityBoundingSet = "";
        AmbientCapabilities = "";
        DevicePolicy = "closed";
        SystemCallArchitectures = "native";
        SystemCallFilter = [
          "@system-service"
          "~@privileged"
          "~@resources"
        ];
      };
    };
  };
}
