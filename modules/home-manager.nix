# services.clawdbot for Home Manager: a systemd user service on Linux, a launchd agent on
# macOS, and the `clawdbot` CLI on PATH pointed at the same config and state (so its
# mutating commands answer with the Nix option to change). `instances.<name>` adds more
# gateways (unit/agent clawdbot-gateway-<name>, state ~/.clawdbot-<name>, CLI
# clawdbot-<name>). Workspace documents are copied into the workspace at activation.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  top = config.services.clawdbot;
  clib = import ../nix/lib.nix;
  json = pkgs.formats.json { };
  gatewayOptions = import ./options.nix { inherit lib json; };
  isDarwin = pkgs.stdenv.hostPlatform.isDarwin;
  home = config.home.homeDirectory;
  logDir = "${home}/Library/Logs/clawdbot";

  # Per-gateway defaults: the top level (name null) or instance `name`.
  defaultsFor =
    name: settings:
    let
      suffix = if name == null then "" else "-${name}";
      fromSettings = settings.agents.defaults.workspace or null;
    in
    {
      package = if name == null then pkgs.clawdbot else top.package;
      packageText =
        if name == null then
          lib.literalMD "this flake's `packages.<system>.gateway` (set by the flake's module), else `pkgs.clawdbot`"
        else
          lib.literalExpression "config.services.clawdbot.package";
      stateDir = "${home}/.clawdbot${suffix}";
      stateDirText = lib.literalExpression ''"''${config.home.homeDirectory}/.clawdbot${suffix}"'';
      workspace =
        if fromSettings == null then
          "${home}/clawd${suffix}"
        else if lib.hasPrefix "~/" fromSettings then
          home + lib.removePrefix "~" fromSettings
        else
          fromSettings;
      workspaceText = lib.literalMD "`settings.agents.defaults.workspace` (a leading `~/` is expanded), else `\"\${config.home.homeDirectory}/clawd${suffix}\"`";
    };

  core = import ./core.nix { inherit lib pkgs; };
  # Secrets reach the gateway as the files themselves (read when it starts).
  gateway =
    name: cfg:
    let
      c = core {
        inherit name cfg;
        secretFile = n: toString cfg.secrets.${n};
      };
    in
    c
    // {
      args = [
        (lib.getExe cfg.package)
        "gateway"
      ]
      ++ cfg.extraArgs;
      path = lib.makeBinPath (cfg.extraPackages ++ [ cfg.package ]);
      logName = if name == null then "gateway" else "gateway-${name}";
    };

  gateways =
    lib.optional top.enable (gateway null top)
    ++ lib.mapAttrsToList gateway (lib.filterAttrs (_: i: i.enable) top.instances);

  assertionsFor = clib.gatewayAssertions;

  byUnit = f: lib.listToAttrs (map (g: lib.nameValuePair g.unit (f g)) gateways);

  userService = g: {
    Unit = {
      Description = "clawdbot gateway${lib.optionalString (g.name != null) " (${g.name})"}";
      After = [ "network-online.target" ];
      X-Restart-Triggers = [ "${g.configFile}" ];
    };
    Service = {
      Type = "notify";
      NotifyAccess = "main";
      ExecStart = lib.escapeShellArgs g.args;
      ExecStartPre = lib.mkIf (g.migrateCommand != null) "-${g.migrateCommand}";
      ExecReload = "${pkgs.coreutils}/bin/kill -HUP $MAINPID";
      Restart = "on-failure";
      RestartSec = 2;
      WatchdogSec = 30;
      TimeoutStopSec = 15;
      LimitNOFILE = clib.limitNOFILE;
      Environment = lib.mapAttrsToList (k: v: "${k}=${v}") (g.serviceEnvironment // { PATH = g.path; });
      EnvironmentFile = lib.mkIf (g.cfg.environmentFile != null) "${g.cfg.environmentFile}";
      UMask = "0077";
      NoNewPrivileges = true;
      LockPersonality = true;
      RestrictRealtime = true;
      RestrictSUIDSGID = true;
      SystemCallArchitectures = "native";
    };
    Install.WantedBy = [ "default.target" ];
  };

  launchdAgent = g: {
    enable = true;
    config = {
      # launchd has no pre-start step: a shell runs the migration, then becomes the gateway.
      ProgramArguments =
        if g.migrateCommand == null then
          g.args
        else
          [
            "/bin/sh"
            "-c"
            "${g.migrateCommand}; exec ${lib.escapeShellArgs g.args}"
          ];
      RunAtLoad = true;
      KeepAlive = true;
      ProcessType = "Background";
      # Carries the checked config's store path: a config change changes the plist, and
      # Home Manager reloads the agent.
      EnvironmentVariables = g.serviceEnvironment // {
        PATH = g.path + ":/usr/bin:/bin";
      };
      StandardOutPath = "${logDir}/${g.logName}.log";
      StandardErrorPath = "${logDir}/${g.logName}.err.log";
    };
  };

  # Copies each gateway's documents into its workspace (after HM wrote its files).
  documentSteps = lib.listToAttrs (
    map (
      g:
      lib.nameValuePair "clawdbotDocuments${g.suffix}" (
        lib.hm.dag.entryAfter [ "writeBoundary" ] (
          clib.copyDocuments {
            workspace = g.cfg.workspace.path;
            inherit (g) documents;
            run = "run ";
          }
        )
      )
    ) (lib.filter (g: g.documents != { }) gateways)
  );
  # Links each gateway's declared skills into its state dir, and drops the links of
  # skills no longer declared (so every gateway gets the step, skills or not).
  skillSteps = lib.listToAttrs (
    map (
      g:
      lib.nameValuePair "clawdbotSkills${g.suffix}" (
        lib.hm.dag.entryAfter [ "writeBoundary" ] (
          clib.linkSkills {
            dir = g.skillsDir;
            inherit (g) skills;
            run = "run ";
          }
        )
      )
    ) gateways
  );
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

  options.services.clawdbot = gatewayOptions (defaultsFor null top.settings) // {
    enable = lib.mkEnableOption "the clawdbot gateway (a personal AI assistant daemon)";

    instances = lib.mkOption {
      default = { };
      description = ''
        More gateways, each with the options of `services.clawdbot` (its own settings,
        secrets, port in `settings.gateway.port`, state dir `~/.clawdbot-<name>`,
        workspace `~/clawd-<name>`), run as `clawdbot-gateway-<name>` and reached with the
        `clawdbot-<name>` command. They run whether or not `services.clawdbot.enable` is
        set.
      '';
      example = lib.literalExpression ''
        {
          work.settings.gateway.port = 18790;
          work.secrets.anthropic-api-key = "''${config.home.homeDirectory}/.secrets/work-anthropic";
        }
      '';
      type = lib.types.attrsOf (
        lib.types.submodule (
          { name, config, ... }:
          {
            options = gatewayOptions (defaultsFor name config.settings) // {
              enable = lib.mkEnableOption "this gateway" // {
                default = true;
              };
            };
          }
        )
      );
    };
  };

  # Every attribute name below is static; only values depend on the gateways (otherwise
  # the module system would recurse through services.clawdbot).
  config = lib.mkIf (gateways != [ ]) (
    lib.mkMerge [
      {
        assertions =
          lib.concatMap assertionsFor gateways
          ++ clib.portAssertions (
            map (g: {
              inherit (g) at;
              port = g.cfg.settings.gateway.port;
            }) gateways
          );
        home.packages =
          lib.optional top.enable top.package ++ map (g: g.cli) (lib.filter (g: g.name != null) gateways);
        home.sessionVariables = lib.mkIf top.enable (gateway null top).environment;
        home.activation = documentSteps // skillSteps;
        warnings = lib.concatMap (g: g.warnings) gateways;
      }
      (lib.mkIf (!isDarwin) {
        systemd.user.services = byUnit userService;
      })
      (lib.mkIf isDarwin {
        launchd.agents = byUnit launchdAgent;
        home.activation.clawdbotLogDir = lib.hm.dag.entryAfter [ "writeBoundary" ] ''
          run mkdir -p ${lib.escapeShellArg logDir}
        '';
      })
    ]
  );
}
