# Tier B: the NixOS module in the real module system (nixpkgs.lib), via our harness.
# `artifacts` are built with nix-build (tests/nix/run.sh): the unit file, and probes of
# the build-time config check run by the real gateway binary (`gatewayBin`).
{
  lib,
  gatewayBin ? null,
  # Where the documents test copies to (a temporary directory of run.sh).
  workspace ? "/tmp/clawdbot-nixos-test-workspace",
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
  # The generated clawdbot.json, read back from the store (built on the fly).
  configOf = s: builtins.fromJSON (builtins.readFile s.environment.CLAWDBOT_CONFIG_PATH);
  family = {
    settings.gateway.port = 18790;
    secrets.gateway-token = "/run/keys/family-token";
  };
  documents = {
    "SOUL.md" = "Be kind.\n";
    "AGENTS.md" = ./fixtures/AGENTS.md;
    "notes/USER.md".text = "Alice.\n";
  };
  names = map (p: p.name);
  # Declared skills (fixtures/skills.nix says which).
  skills = import ./fixtures/skills.nix h.pkgs.runCommand;
  # templates/nixos, through its own flake.nix, with nixosSystem played by the harness.
  template =
    ((import ../../templates/nixos/flake.nix).outputs {
      nixpkgs.lib.nixosSystem = { modules, ... }: h.checked modules;
      clawdbot.nixosModules.default.imports = [ ../../modules/nixos.nix ];
    }).nixosConfigurations.server;
  serverConfig = {
    services.clawdbot = {
      enable = true;
      secrets.gateway-token = "/run/keys/clawdbot-token";
      settings.gateway.bind = "lan";
      settings.agents.list = [ { id = "main"; } ];
    };
  };
  # A file that depends on the checked config: building it runs `clawdbot check-config`.
  probe = settings: probeWith { inherit settings; };
  probeWith =
    extra:
    h.pkgs.writeText "config-probe"
      (h.checked [
        {
          services.clawdbot = {
            enable = true;
          }
          // extra;
        }
      ]).systemd.services.clawdbot-gateway.environment.CLAWDBOT_CONFIG_PATH;
  # The options sops-nix and agenix declare for a secret's path, with their defaults.
  managers =
    { lib, ... }:
    let
      secretOf =
        dir:
        lib.types.attrsOf (
          lib.types.submodule (
            { name, ... }:
            {
              options.path = lib.mkOption {
                type = lib.types.str;
                default = "${dir}/${name}";
              };
            }
          )
        );
    in
    {
      options.sops.secrets = lib.mkOption {
        type = secretOf "/run/secrets";
        default = { };
      };
      options.age.secrets = lib.mkOption {
        type = secretOf "/run/agenix";
        default = { };
      };
    };
  # A user-written config file with a typo (gateway.prot).
  badConfigFile = h.pkgs.writeText "my-clawdbot.json" (builtins.toJSON { gateway.prot = 1; });
  morning = {
    schedule = {
      kind = "cron";
      expr = "0 7 * * *";
      tz = "Europe/Lisbon";
    };
    payload = {
      kind = "agentTurn";
      message = "Summarise my inbox.";
      deliver = true;
    };
  };
in
{
  artifacts = {
    unit = h.pkgs.writeText "clawdbot-gateway.service" (
      h.render (h.checked [ serverConfig ]).systemd.services.clawdbot-gateway
    );
    templateUnit = h.pkgs.writeText "clawdbot-gateway.service" (
      h.render template.systemd.services.clawdbot-gateway
    );
    instanceUnit = h.pkgs.writeText "clawdbot-gateway-family.service" (
      h.render
        (h.checked [
          serverConfig
          {
            services.clawdbot.instances.family = family // {
              workspace.documents = documents;
            };
          }
        ]).systemd.services.clawdbot-gateway-family
    );
    dynamicUserUnit = h.pkgs.writeText "clawdbot-gateway.service" (
      h.render
        (enabled {
          dynamicUser = true;
          workspace.documents = documents;
        }).systemd.services.clawdbot-gateway
    );
    # root's admin commands, with the real binary: run.sh asks them for their config.
    cli =
      let
        c = h.checked [
          {
            services.clawdbot = {
              enable = true;
              instances.family = family;
            };
          }
        ];
      in
      h.pkgs.runCommand "clawdbot-admin-cli" { } ''
        mkdir -p $out/bin
        ${lib.concatMapStrings (p: "cp ${p}/bin/* $out/bin/\n") c.environment.systemPackages}
      '';
    # The ExecStartPre that copies documents and links skills, generated for `workspace`
    # and a state dir beside it (both in a temporary directory of run.sh).
    documents =
      h.pkgs.runCommand "clawdbot-documents-pre-start" { }
        "ln -s ${
          builtins.head
            (enabled {
              workspace.path = workspace;
              workspace.documents = documents;
              stateDir = "${workspace}-state";
              inherit skills;
            }).systemd.services.clawdbot-gateway.serviceConfig.ExecStartPre
        } $out";
    # The program of `nix run .#gateway` (apps.<system>.gateway), around the real binary.
    app = import ../../nix/app.nix {
      inherit (h.pkgs) writeShellScript;
      gateway = h.pkgs.clawdbot;
    };
    goodConfig = probe { agents.list = [ { id = "main"; } ]; };
    badConfig = probe { gateway.prot = 1; };
    # cron.jobs are checked at build time as the gateway parses them.
    goodCronJob = probeWith { cron.jobs.morning = morning; };
    badCronJob = probeWith {
      cron.jobs.morning = morning // {
        schedule = {
          kind = "cron";
          expr = "every morning";
        };
      };
    };
    # A configFile of the configuration is checked like settings, unless turned off.
    badConfigFile = probeWith { configFile = badConfigFile; };
    uncheckedConfigFile = probeWith {
      configFile = badConfigFile;
      checkConfigFile = false;
    };
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
            LimitNOFILE
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
        LimitNOFILE = 65536;
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
          # What the tool sandbox sets up in each tool process (Landlock, seccomp, rlimits).
          "landlock_create_ruleset"
          "landlock_add_rule"
          "landlock_restrict_self"
          "seccomp"
          "setrlimit"
          "prlimit64"
          "capset"
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
    # Secrets managers: stand-ins of the sops-nix and agenix options (the path each
    # defaults to), wired the way docs/secrets.md shows.
    secretsFromSopsAndAgenix = {
      actual =
        (h.checked [
          managers
          (
            { config, ... }:
            {
              services.clawdbot = {
                enable = true;
                secrets.gateway-token = config.sops.secrets."clawdbot/gateway-token".path;
                secrets.anthropic-api-key = config.age.secrets.anthropic-api-key.path;
              };
              sops.secrets."clawdbot/gateway-token" = { };
              age.secrets.anthropic-api-key = { };
            }
          )
        ]).systemd.services.clawdbot-gateway.serviceConfig.LoadCredential;
      expected = [
        "anthropic-api-key:/run/agenix/anthropic-api-key"
        "gateway-token:/run/secrets/clawdbot/gateway-token"
      ];
    };
    secretManagerPathInStoreFails = {
      actual =
        (h.checked [
          managers
          (
            { config, ... }:
            {
              services.clawdbot = {
                enable = true;
                secrets.gateway-token = config.sops.secrets.token.path;
              };
              sops.secrets.token.path = "/nix/store/abc-token";
            }
          )
        ]).systemd.services.clawdbot-gateway.serviceConfig;
      expectedError = "a secret file is inside /nix/store";
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
    instanceHasItsOwnUnit = {
      actual =
        let
          c = enabled { instances.family = family; };
          s = c.systemd.services.clawdbot-gateway-family;
          json = configOf s;
        in
        {
          units = builtins.attrNames c.systemd.services;
          inherit (s.serviceConfig)
            StateDirectory
            WorkingDirectory
            LoadCredential
            Type
            User
            ;
          inherit (s.environment) CLAWDBOT_STATE_DIR CLAWDBOT_NIX_OPTION;
          topLevelNamesNoOption = !((svc { }).environment ? CLAWDBOT_NIX_OPTION);
          ownConfig = s.environment.CLAWDBOT_CONFIG_PATH != (svc { }).environment.CLAWDBOT_CONFIG_PATH;
          configName = lib.hasSuffix "-clawdbot-family-config.json" s.environment.CLAWDBOT_CONFIG_PATH;
          restartTriggers = map toString s.restartTriggers == [ s.environment.CLAWDBOT_CONFIG_PATH ];
          inherit (json.gateway) port;
          tokenFile = json.gateway.auth.tokenFile;
          workspace = json.agents.defaults.workspace;
        };
      expected = {
        units = [
          "clawdbot-gateway"
          "clawdbot-gateway-family"
        ];
        StateDirectory = "clawdbot-family";
        WorkingDirectory = "/var/lib/clawdbot-family";
        LoadCredential = [ "gateway-token:/run/keys/family-token" ];
        Type = "notify";
        User = "clawdbot";
        CLAWDBOT_STATE_DIR = "/var/lib/clawdbot-family";
        CLAWDBOT_NIX_OPTION = "services.clawdbot.instances.family";
        topLevelNamesNoOption = true;
        ownConfig = true;
        configName = true;
        restartTriggers = true;
        port = 18790;
        tokenFile = "/run/credentials/clawdbot-gateway-family.service/gateway-token";
        workspace = "/var/lib/clawdbot-family/workspace";
      };
    };
    instancesWithoutTopLevel = {
      actual =
        let
          c = h.checked [ { services.clawdbot.instances.family = family; } ];
        in
        {
          units = builtins.attrNames c.systemd.services;
          user = c.users.users.clawdbot.isSystemUser;
          cli = names c.environment.systemPackages;
        };
      expected = {
        units = [ "clawdbot-gateway-family" ];
        user = true;
        cli = [ "clawdbot-family" ];
      };
    };
    instanceInheritsUserAndPackage = {
      actual =
        let
          s =
            (enabled {
              user = "alice";
              group = "users";
              instances.family = family;
            }).systemd.services.clawdbot-gateway-family.serviceConfig;
        in
        {
          inherit (s) User Group;
          exec = lib.hasPrefix "${h.pkgs.clawdbot}/bin/clawdbot gateway" s.ExecStart;
        };
      expected = {
        User = "alice";
        Group = "users";
        exec = true;
      };
    };
    instanceFirewall = {
      actual =
        (enabled {
          instances.family = family // {
            openFirewall = true;
          };
        }).networking.firewall.allowedTCPPorts;
      expected = [ 18790 ];
    };
    adminCliPerGateway = {
      actual =
        let
          c = enabled { instances.family = family; };
          text = p: builtins.unsafeDiscardStringContext p.text;
          cli = lib.head c.environment.systemPackages;
        in
        {
          names = names c.environment.systemPackages;
          boundToConfig = lib.hasInfix "export CLAWDBOT_CONFIG_PATH=${builtins.unsafeDiscardStringContext c.systemd.services.clawdbot-gateway.environment.CLAWDBOT_CONFIG_PATH}" (
            text cli
          );
          boundToState = lib.hasInfix "export CLAWDBOT_STATE_DIR=/var/lib/clawdbot\n" (text cli);
          nixMode = lib.hasInfix "export CLAWDBOT_NIX_MODE=1" (text cli);
        };
      expected = {
        names = [
          "clawdbot"
          "clawdbot-family"
        ];
        boundToConfig = true;
        boundToState = true;
        nixMode = true;
      };
    };
    dynamicUser = {
      actual =
        let
          c = enabled {
            dynamicUser = true;
            instances.family = family;
          };
          s = c.systemd.services.clawdbot-gateway.serviceConfig;
        in
        {
          inherit (s) DynamicUser StateDirectory;
          user = s ? User || s ? Group;
          users = c.users.users;
          groups = c.users.groups;
          instance = c.systemd.services.clawdbot-gateway-family.serviceConfig.DynamicUser;
        };
      expected = {
        DynamicUser = true;
        StateDirectory = "clawdbot";
        user = false;
        users = { };
        groups = { };
        instance = true;
      };
    };
    # cron.jobs reach the config as cron.jobs (beside settings' own cron keys).
    cronJobsInConfig = {
      actual =
        (configOf (svc {
          cron.jobs.morning = morning;
          settings.cron.enabled = true;
        })).cron;
      expected = {
        enabled = true;
        jobs.morning = morning;
      };
    };
    # The old logLevel still works, moved into the config, with a warning.
    logLevelRenamed = {
      actual =
        let
          c = enabled { logLevel = "debug"; };
          s = c.systemd.services.clawdbot-gateway;
        in
        {
          level = (configOf s).logging.level;
          env = s.environment ? CLAWDBOT_LOG;
          warned = builtins.any (lib.hasInfix "services.clawdbot.logLevel has been renamed to services.clawdbot.settings.logging.level") c.warnings;
        };
      expected = {
        level = "debug";
        env = false;
        warned = true;
      };
    };
    newLogLevelWins = {
      actual =
        (configOf (svc {
          settings.logging.level = "warn";
        })).logging.level;
      expected = "warn";
    };
    # A configFile outside the store is a runtime file: used as it is, not checked.
    runtimeConfigFileIsUsedAsIs = {
      actual = (svc { configFile = "/etc/clawdbot/clawdbot.json"; }).environment.CLAWDBOT_CONFIG_PATH;
      expected = "/etc/clawdbot/clawdbot.json";
    };
    badSkillNameFails = {
      actual = sc { skills.".hidden" = ./fixtures/skills/weather; };
      expectedError = "services.clawdbot.skills.\".hidden\": a skill name may only contain";
    };
    # migrateState: `doctor --migrate` before each start, its failure ignored (`-`); off by
    # default so a rollback can read every state file.
    migrateStateRunsBeforeStart = {
      actual = map (extra: builtins.tail (sc extra).ExecStartPre) [
        { }
        { migrateState = true; }
      ];
      expected = [
        [ ]
        [ "-${h.pkgs.clawdbot}/bin/clawdbot doctor --migrate" ]
      ];
    };
    workspaceDefaults = {
      actual =
        let
          s = svc { };
        in
        {
          json = (configOf s).agents.defaults.workspace;
          preStart = s.serviceConfig ? ExecStartPre;
          readWrite = s.serviceConfig ? ReadWritePaths;
        };
      expected = {
        json = "/var/lib/clawdbot/workspace";
        # Always: it also drops the links of skills no longer declared.
        preStart = true;
        readWrite = false;
      };
    };
    documentsCopiedBeforeStart = {
      actual =
        let
          s = (svc { workspace.documents = documents; }).serviceConfig;
        in
        {
          preStart = lib.hasInfix "-clawdbot-prepare" (builtins.head s.ExecStartPre);
          readWrite = s ? ReadWritePaths;
        };
      expected = {
        preStart = true;
        readWrite = false;
      };
    };
    workspaceOutsideStateDir = {
      actual =
        let
          c = enabled {
            workspace.path = "/srv/assistant";
            workspace.documents."SOUL.md" = "x";
          };
          s = c.systemd.services.clawdbot-gateway;
        in
        {
          inherit (s.serviceConfig) ReadWritePaths;
          inherit (c.systemd.tmpfiles) rules;
          json = (configOf s).agents.defaults.workspace;
        };
      expected = {
        ReadWritePaths = [ "/srv/assistant" ];
        rules = [ "d /srv/assistant 0700 clawdbot clawdbot - -" ];
        json = "/srv/assistant";
      };
    };
    workspaceFromSettings = {
      actual =
        (configOf (svc {
          settings.agents.defaults.workspace = "/var/lib/clawdbot/w";
        })).agents.defaults.workspace;
      expected = "/var/lib/clawdbot/w";
    };
    twoGatewaysOnOnePortFail = {
      actual = sc { instances.family = { }; };
      expectedError = "services.clawdbot and services.clawdbot.instances.family use the same port 18789";
    };
    instanceLanWithoutAuthFails = {
      actual = sc {
        instances.family.settings.gateway = {
          port = 1;
          bind = "lan";
        };
      };
      expectedError = "services.clawdbot.instances.family.settings.gateway.bind = \"lan\" exposes the gateway";
    };
    dynamicUserNeedsVarLib = {
      actual = sc {
        dynamicUser = true;
        stateDir = "/srv/clawdbot";
      };
      expectedError = "services.clawdbot.dynamicUser needs stateDir under /var/lib/";
    };
    relativeWorkspaceFails = {
      actual = sc { settings.agents.defaults.workspace = "~/clawd"; };
      expectedError = "services.clawdbot.workspace.path must be an absolute path (it is \"~/clawd\")";
    };
    badDocumentNameFails = {
      actual = sc { workspace.documents."/etc/passwd" = "x"; };
      expectedError = "workspace.documents.\"/etc/passwd\": give a relative path";
    };
    nixosTemplate = {
      actual =
        let
          s = template.systemd.services.clawdbot-gateway;
          json = configOf s;
        in
        {
          inherit (s.serviceConfig) LoadCredential;
          inherit (s.environment) ANTHROPIC_API_KEY_FILE;
          firewall = template.networking.firewall.allowedTCPPorts;
          documents = lib.hasInfix "clawdbot-prepare" (builtins.head s.serviceConfig.ExecStartPre);
          telegram = json.channels.telegram.tokenFile;
          workspace = json.agents.defaults.workspace;
          cli = names template.environment.systemPackages;
        };
      expected = {
        LoadCredential = [
          "anthropic-api-key:/run/keys/anthropic-api-key"
          "gateway-token:/run/keys/clawdbot-gateway-token"
          "telegram-bot-token:/run/keys/telegram-bot-token"
        ];
        ANTHROPIC_API_KEY_FILE = "/run/credentials/clawdbot-gateway.service/anthropic-api-key";
        firewall = [ 18789 ];
        documents = true;
        telegram = "/run/credentials/clawdbot-gateway.service/telegram-bot-token";
        workspace = "/var/lib/clawdbot/workspace";
        cli = [ "clawdbot" ];
      };
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
