# services.clawdbot for Home Manager: a systemd user service on Linux, a launchd agent on
# macOS, and the `clawdbot` CLI on PATH pointed at the same config and state (so its
# mutating commands answer with the Nix option to change).
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
  isDarwin = pkgs.stdenv.hostPlatform.isDarwin;
  settings = clib.stripNulls (clib.withSecretFiles cfg.settings toString cfg.secrets);
  configFile = import ./checked-config.nix {
    inherit pkgs settings;
    inherit (cfg) package configFile;
  };
  environment =
    clib.serviceEnvironment {
      inherit (cfg) stateDir logLevel;
      configPath = "${configFile}";
    }
    // clib.apiKeyEnv toString cfg.secrets;
  args = [
    (lib.getExe cfg.package)
    "gateway"
  ]
  ++ cfg.extraArgs;
  logDir = "${config.home.homeDirectory}/Library/Logs/clawdbot";
in
{
  imports = [
    (lib.mkRenamedOptionModule
      [
        "programs"
        "clawdbot"
      ]
      [
        "services"
        "clawdbot"
      ]
    )
  ];

  options.services.clawdbot = common // {
    stateDir = lib.mkOption {
      type = lib.types.str;
      default = "${config.home.homeDirectory}/.clawdbot";
      defaultText = lib.literalExpression ''"''${config.home.homeDirectory}/.clawdbot"'';
      description = "Runtime state (devices, sessions, logs, the generated token).";
    };
  };

  config = lib.mkIf cfg.enable (
    lib.mkMerge [
      {
        assertions = clib.secretAssertions cfg;
        home.packages = [ cfg.package ];
        home.sessionVariables = environment;
      }
      (lib.mkIf (!isDarwin) {
        systemd.user.services.${unit} = {
          Unit = {
            Description = "clawdbot gateway";
            After = [ "network-online.target" ];
            X-Restart-Triggers = [ "${configFile}" ];
          };
          Service = {
            Type = "notify";
            NotifyAccess = "main";
            ExecStart = lib.escapeShellArgs args;
            ExecReload = "${pkgs.coreutils}/bin/kill -HUP $MAINPID";
            Restart = "on-failure";
            RestartSec = 2;
            WatchdogSec = 30;
            TimeoutStopSec = 15;
            Environment = lib.mapAttrsToList (k: v: "${k}=${v}") (
              environment // { PATH = lib.makeBinPath (cfg.extraPackages ++ [ cfg.package ]); }
            );
            EnvironmentFile = lib.mkIf (cfg.environmentFile != null) "${cfg.environmentFile}";
            UMask = "0077";
            NoNewPrivileges = true;
            LockPersonality = true;
            RestrictRealtime = true;
            RestrictSUIDSGID = true;
            SystemCallArchitectures = "native";
          };
          Install.WantedBy = [ "default.target" ];
        };
      })
      (lib.mkIf isDarwin {
        launchd.agents.${unit} = {
          enable = true;
          config = {
            ProgramArguments = args;
            RunAtLoad = true;
            KeepAlive = true;
            ProcessType = "Background";
            EnvironmentVariables = environment // {
              PATH = lib.makeBinPath (cfg.extraPackages ++ [ cfg.package ]) + ":/usr/bin:/bin";
            };
            StandardOutPath = "${logDir}/gateway.log";
            StandardErrorPath = "${logDir}/gateway.err.log";
          };
        };
        home.activation.clawdbotLogDir = lib.hm.dag.entryAfter [ "writeBoundary" ] ''
          run mkdir -p ${lib.escapeShellArg logDir}
        '';
      })
    ]
  );
}
