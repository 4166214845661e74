# services.clawdbot: the gateway as a hardened system service.
#
# The config is rendered with pkgs.formats.json and validated at build time by the
# gateway's own `check-config`, so a bad config fails `nixos-rebuild` before anything is
# activated. Secrets are paths outside the store, handed over with LoadCredential.
# `instances.<name>` adds more gateways (unit clawdbot-gateway-<name>, state
# /var/lib/clawdbot-<name>); root gets a `clawdbot` (and `clawdbot-<name>`) command bound
# to each. Workspace documents are copied into the workspace before each start.
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

  # Options only the NixOS module has; instances default to the top level's choices.
  systemOptions = d: {
    user = lib.mkOption {
      type = lib.types.str;
      default = d.user;
      defaultText = d.userText;
      description = "User to run as; the `clawdbot` system user is created when it is used (and dynamicUser is off).";
    };
    group = lib.mkOption {
      type = lib.types.str;
      default = d.group;
      defaultText = d.groupText;
      description = "Group to run as; the `clawdbot` group is created when it is used (and dynamicUser is off).";
    };
    dynamicUser = lib.mkOption {
      type = lib.types.bool;
      default = d.dynamicUser;
      defaultText = d.dynamicUserText;
      description = ''
        Run as a transient user allocated by systemd (DynamicUser=) instead of `user` and
        `group`; the state dir must then be under /var/lib and hold the workspace.
      '';
    };
    openFirewall = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = "Open the gateway port in the firewall.";
    };
  };

  defaultsFor =
    name: cfg:
    let
      suffix = if name == null then "" else "-${name}";
      fromSettings = cfg.settings.agents.defaults.workspace or null;
      inherited = n: if name == null then "clawdbot" else top.${n};
      inheritedText =
        n: lib.literalExpression (if name == null then ''"clawdbot"'' else "config.services.clawdbot.${n}");
    in
    {
      package = if name == null then pkgs.clawdbot else top.package;
      packageText =
        if name == null then
          lib.literalMD "this flake's `packages.<system>.gateway` (set by the flake's module), else `pkgs.clawdbot`"
        else
          lib.literalExpression "config.services.clawdbot.package";
      stateDir = "/var/lib/clawdbot${suffix}";
      stateDirText = lib.literalExpression ''"/var/lib/clawdbot${suffix}"'';
      workspace = if fromSettings == null then "${cfg.stateDir}/workspace" else fromSettings;
      workspaceText = lib.literalMD "`settings.agents.defaults.workspace`, else `\"\${stateDir}/workspace\"`";
      user = inherited "user";
      userText = inheritedText "user";
      group = inherited "group";
      groupText = inheritedText "group";
      dynamicUser = name != null && top.dynamicUser;
      dynamicUserText =
        if name == null then lib.literalExpression "false" else inheritedText "dynamicUser";
    };

  optionsFor = d: gatewayOptions d // systemOptions d;

  core = import ./core.nix { inherit lib pkgs; };
  gateway =
    name: cfg:
    let
      credentialDir = "/run/credentials/${clib.unitName name}.service";
      c = core {
        inherit name cfg;
        secretFile = n: "${credentialDir}/${n}";
      };
      bin = {
        install = "${pkgs.coreutils}/bin/install";
        rm = "${pkgs.coreutils}/bin/rm";
        cmp = "${pkgs.diffutils}/bin/cmp";
        ln = "${pkgs.coreutils}/bin/ln";
        mkdir = "${pkgs.coreutils}/bin/mkdir";
        readlink = "${pkgs.coreutils}/bin/readlink";
      };
    in
    c
    // {
      inherit credentialDir;
      underVarLib = lib.hasPrefix "/var/lib/" cfg.stateDir;
      workspaceInState = lib.hasPrefix "${cfg.stateDir}/" cfg.workspace.path;
      # Runs as the service's user, inside its sandbox, before every start: the workspace
      # documents, then the declared skills linked into the state dir (always run, so a
      # skill no longer declared loses its link).
      prepare = pkgs.writeShellScript "clawdbot-prepare${c.suffix}" (
        "set -eu\n"
        + clib.copyDocuments {
          workspace = cfg.workspace.path;
          inherit (c) documents;
          inherit bin;
        }
        + clib.linkSkills {
          dir = c.skillsDir;
          inherit (c) skills;
          inherit bin;
        }
      );
    };

  gateways =
    lib.optional top.enable (gateway null top)
    ++ lib.mapAttrsToList gateway (lib.filterAttrs (_: i: i.enable) top.instances);
  staticUsers = lib.filter (g: !g.cfg.dynamicUser) gateways;

  assertionsFor =
    g:
    clib.gatewayAssertions g
    ++ lib.optional g.cfg.dynamicUser {
      assertion = g.underVarLib && (g.documents == { } || g.workspaceInState);
      message = "${g.at}.dynamicUser needs stateDir under /var/lib/ (it is ${g.cfg.stateDir}) and, with documents, workspace.path inside it.";
    };

  service = g: {
    description = "clawdbot gateway${lib.optionalString (g.name != null) " (${g.name})"}";
    wantedBy = [ "multi-user.target" ];
    after = [ "network-online.target" ];
    wants = [ "network-online.target" ];
    path = g.cfg.extraPackages;
    environment = g.serviceEnvironment;
    restartTriggers = [ g.configFile ];
    serviceConfig = {
      Type = "notify";
      NotifyAccess = "main";
      ExecStart = "${lib.getExe g.cfg.package} gateway ${lib.escapeShellArgs g.cfg.extraArgs}";
      # `-`: a failed migration leaves the files as they were and must not block the start.
      ExecStartPre = [ "${g.prepare}" ] ++ lib.optional (g.migrateCommand != null) "-${g.migrateCommand}";
      ExecReload = "${pkgs.coreutils}/bin/kill -HUP $MAINPID";
      Restart = "on-failure";
      RestartSec = 2;
      WatchdogSec = 30;
      TimeoutStopSec = 15;
      LimitNOFILE = clib.limitNOFILE;
      User = lib.mkIf (!g.cfg.dynamicUser) g.cfg.user;
      Group = lib.mkIf (!g.cfg.dynamicUser) g.cfg.group;
      DynamicUser = lib.mkIf g.cfg.dynamicUser true;
      StateDirectory = lib.mkIf g.underVarLib (lib.removePrefix "/var/lib/" g.cfg.stateDir);
      StateDirectoryMode = "0700";
      WorkingDirectory = g.cfg.stateDir;
      ReadWritePaths = lib.mkIf (!g.workspaceInState) [ g.cfg.workspace.path ];
      LoadCredential = clib.credentials g.cfg.secrets;
      EnvironmentFile = lib.mkIf (g.cfg.environmentFile != null) g.cfg.environmentFile;
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
      # The tool sandbox (agents.defaults.sandbox, on for non-main sessions by default)
      # confines each tool process with Landlock + seccomp + rlimits, set up in the child:
      # it needs the landlock_* and seccomp calls, setrlimit/prlimit64 (in @resources) and
      # capset (in @privileged) to drop what remains. No namespaces: RestrictNamespaces stays.
      SystemCallFilter = [
        "@system-service"
        "~@privileged"
        "~@resources"
        "landlock_create_ruleset"
        "landlock_add_rule"
        "landlock_restrict_self"
        "seccomp"
        "setrlimit"
        "prlimit64"
        "capset"
      ];
    };
  };
in
{
  options.services.clawdbot = optionsFor (defaultsFor null top) // {
    enable = lib.mkEnableOption "the clawdbot gateway (a personal AI assistant daemon)";

    instances = lib.mkOption {
      default = { };
      description = ''
        More gateways, each with the options of `services.clawdbot` (its own settings,
        secrets, port in `settings.gateway.port`, state dir /var/lib/clawdbot-<name>),
        run as `clawdbot-gateway-<name>`; root reaches each with `clawdbot-<name>`. They
        run whether or not `services.clawdbot.enable` is set.
      '';
      example = lib.literalExpression ''
        {
          family.settings.gateway.port = 18790;
          family.secrets.telegram-bot-token = "/run/agenix/family-telegram";
        }
      '';
      type = lib.types.attrsOf (
        lib.types.submodule (
          { name, config, ... }:
          {
            options = optionsFor (defaultsFor name config) // {
              enable = lib.mkEnableOption "this gateway" // {
                default = true;
              };
            };
          }
        )
      );
    };
  };

  # Every attribute name below is static; only values depend on the gateways.
  config = lib.mkIf (gateways != [ ]) {
    assertions =
      lib.concatMap assertionsFor gateways
      ++ clib.portAssertions (
        map (g: {
          inherit (g) at port;
        }) gateways
      );

    users.users = lib.mkIf (lib.any (g: g.cfg.user == "clawdbot") staticUsers) {
      clawdbot = {
        isSystemUser = true;
        group = "clawdbot";
        home = top.stateDir;
        description = "clawdbot gateway";
      };
    };
    users.groups = lib.mkIf (lib.any (g: g.cfg.group == "clawdbot") staticUsers) {
      clawdbot = { };
    };

    networking.firewall.allowedTCPPorts = map (g: g.port) (lib.filter (g: g.cfg.openFirewall) gateways);

    systemd.tmpfiles.rules = lib.concatMap (
      g:
      lib.optional (!g.underVarLib) "d ${g.cfg.stateDir} 0700 ${g.cfg.user} ${g.cfg.group} - -"
      ++ lib.optional (
        !g.workspaceInState
      ) "d ${g.cfg.workspace.path} 0700 ${g.cfg.user} ${g.cfg.group} - -"
    ) staticUsers;

    systemd.services = lib.listToAttrs (map (g: lib.nameValuePair g.unit (service g)) gateways);

    # Admin commands for root, bound to each gateway's config and state.
    environment.systemPackages = map (g: g.cli) gateways;

    warnings = lib.concatMap (g: g.warnings) gateways;
  };
}
