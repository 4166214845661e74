# Tier B: the Home Manager module inside Home Manager's real module set (a checkout of
# nix-community/home-manager), for x86_64-linux and aarch64-darwin, with nixpkgs.lib and
# the pkgs stand-in. Config files are read back with builtins.readFile (they are
# /bin/bash derivations, built on the fly). `artifacts` are realised by tests/nix/run.sh:
# the user units and plists HM renders, and the documents activation step.
{
  lib,
  homeManager,
  gatewayBin ? null,
  # Where the activation test copies documents (a temporary directory of run.sh).
  workspace ? "/tmp/clawdbot-hm-test-workspace",
  ...
}:
let
  mk =
    system:
    import ./harness/home-manager.nix {
      inherit
        lib
        homeManager
        system
        gatewayBin
        ;
    };
  linux = mk "x86_64-linux";
  darwin = mk "aarch64-darwin";
  module = ../../modules/home-manager.nix;

  evalOn = h: modules: (h.eval ([ module ] ++ modules)).config;
  on =
    h: extra:
    evalOn h [
      {
        services.clawdbot = {
          enable = true;
        }
        // extra;
      }
    ];
  unit = extra: (on linux extra).systemd.user.services.clawdbot-gateway;
  agent = extra: (on darwin extra).launchd.agents.clawdbot-gateway.config;
  exe = "${linux.pkgs.clawdbot}/bin/clawdbot";
  # Environment= lines as an attrset.
  envOf =
    u:
    builtins.listToAttrs (
      map (
        l:
        let
          m = builtins.match "([^=]+)=(.*)" l;
        in
        lib.nameValuePair (builtins.elemAt m 0) (builtins.elemAt m 1)
      ) u.Service.Environment
    );
  # The generated clawdbot.json of a gateway, read back from the store (the restart
  # trigger is the checked config; builtins.match above loses the string's context).
  configOf = u: builtins.fromJSON (builtins.readFile (builtins.head u.Unit.X-Restart-Triggers));
  ours = ps: map (p: p.name) (lib.filter (p: lib.hasPrefix "clawdbot" p.name) ps);

  # templates/default, through its own flake.nix: homeManagerConfiguration is played by the
  # harness, and the module is wrapped as this repository's flake wraps it.
  template =
    ((import ../../templates/default/flake.nix).outputs {
      nixpkgs.legacyPackages.x86_64-linux = linux.pkgs;
      home-manager.lib.homeManagerConfiguration = { modules, ... }: linux.evalConfiguration modules;
      clawdbot.homeManagerModules.default = {
        imports = [ module ];
        services.clawdbot.package = lib.mkDefault linux.pkgs.clawdbot;
      };
    }).homeConfigurations.me.config;

  twoGateways = {
    instances.work = {
      settings.gateway.port = 18790;
      secrets.anthropic-api-key = "/home/alice/.secrets/work-anthropic";
    };
  };
  documents = {
    "SOUL.md" = "Be kind.\n";
    "AGENTS.md" = ./fixtures/AGENTS.md;
    "notes/USER.md".text = "Alice.\n";
  };
  # Declared skills (fixtures/skills.nix says which).
  skills = import ./fixtures/skills.nix linux.pkgs.runCommand;
in
{
  cases = {
    disabledDefinesNothing = {
      actual =
        let
          c = evalOn linux [ ];
        in
        {
          units = lib.filter (lib.hasPrefix "clawdbot") (builtins.attrNames c.systemd.user.services);
          activation = lib.filter (lib.hasPrefix "clawdbot") (builtins.attrNames c.home.activation);
          packages = ours c.home.packages;
        };
      expected = {
        units = [ ];
        activation = [ ];
        packages = [ ];
      };
    };

    linuxUserUnit = {
      actual =
        let
          u = unit { };
          e = envOf u;
        in
        {
          inherit (u.Service)
            Type
            ExecStart
            Restart
            WatchdogSec
            LimitNOFILE
            ;
          inherit (u.Install) WantedBy;
          execStartCarriesNoConfig = !lib.hasInfix "config" (toString u.Service.ExecStart);
          inherit (e) CLAWDBOT_NIX_MODE CLAWDBOT_STATE_DIR;
          configIsChecked = lib.hasSuffix "-clawdbot-config.json" e.CLAWDBOT_CONFIG_PATH;
          triggerIsConfig = u.Unit.X-Restart-Triggers == [ e.CLAWDBOT_CONFIG_PATH ];
        };
      expected = {
        Type = "notify";
        ExecStart = [ "${exe} gateway" ];
        Restart = "on-failure";
        WatchdogSec = 30;
        LimitNOFILE = 65536;
        WantedBy = [ "default.target" ];
        execStartCarriesNoConfig = true;
        CLAWDBOT_NIX_MODE = "1";
        CLAWDBOT_STATE_DIR = "/home/alice/.clawdbot";
        configIsChecked = true;
        triggerIsConfig = true;
      };
    };

    configChangeChangesUnit = {
      actual =
        (unit { }).Unit.X-Restart-Triggers == (unit { settings.gateway.port = 3000; })
        .Unit.X-Restart-Triggers;
      expected = false;
    };

    extraPackagesOnPath = {
      actual =
        (envOf (unit {
          extraPackages = [ linux.pkgs.diffutils ];
        })).PATH;
      expected = "${linux.pkgs.diffutils}/bin:${linux.pkgs.clawdbot}/bin";
    };

    secretsAsFileKeys = {
      actual =
        let
          u = unit {
            secrets = {
              gateway-token = "/home/alice/.secrets/clawdbot-gateway-token";
              telegram-bot-token = "/home/alice/.secrets/telegram-bot-token";
              anthropic-api-key = "/home/alice/.secrets/anthropic-api-key";
            };
          };
          c = configOf u;
        in
        {
          tokenFile = c.gateway.auth.tokenFile;
          telegram = c.channels.telegram.tokenFile;
          apiKey = (envOf u).ANTHROPIC_API_KEY_FILE;
        };
      expected = {
        tokenFile = "/home/alice/.secrets/clawdbot-gateway-token";
        telegram = "/home/alice/.secrets/telegram-bot-token";
        apiKey = "/home/alice/.secrets/anthropic-api-key";
      };
    };

    generatedSettings = {
      actual = configOf (unit {
        settings.agents.list = [ { id = "main"; } ];
      });
      expected = {
        gateway = {
          port = 18789;
          bind = "loopback";
          auth = { };
        };
        agents = {
          list = [ { id = "main"; } ];
          defaults.workspace = "/home/alice/clawd";
        };
      };
    };

    # The module's cron.jobs and the renamed logLevel land in the config; a warning
    # names the new option.
    cronJobsAndLogLevel = {
      actual =
        let
          c = on linux {
            logLevel = "debug";
            cron.jobs.stretch = {
              schedule = {
                kind = "every";
                everyMs = 3600000;
              };
              payload = {
                kind = "systemEvent";
                text = "Stretch.";
              };
            };
          };
          json = configOf c.systemd.user.services.clawdbot-gateway;
        in
        {
          inherit (json) logging;
          jobs = builtins.attrNames json.cron.jobs;
          warned = builtins.any (lib.hasInfix "services.clawdbot.logLevel has been renamed") c.warnings;
        };
      expected = {
        logging.level = "debug";
        jobs = [ "stretch" ];
        warned = true;
      };
    };
    # Every gateway gets a skills step (it also drops links of skills no longer declared),
    # linking into its own state dir.
    skillsLinkedAtActivation = {
      actual =
        let
          c = on linux {
            inherit skills;
            instances.work = {
              settings.gateway.port = 18790;
            };
          };
          step = c.home.activation.clawdbotSkills.data;
        in
        {
          steps = lib.filter (lib.hasPrefix "clawdbotSkills") (builtins.attrNames c.home.activation);
          weather = lib.hasInfix "'/home/alice/.clawdbot/skills/weather'" step;
          notes = lib.hasInfix "'/home/alice/.clawdbot/skills/notes'" step;
          instanceDir = lib.hasInfix "'/home/alice/.clawdbot-work/skills'" c.home.activation.clawdbotSkills-work.data;
        };
      expected = {
        steps = [
          "clawdbotSkills"
          "clawdbotSkills-work"
        ];
        weather = true;
        notes = true;
        instanceDir = true;
      };
    };

    cliFindsThisGateway = {
      actual =
        let
          c = on linux { };
        in
        {
          vars = c.home.sessionVariables.CLAWDBOT_CONFIG_PATH == (envOf (unit { })).CLAWDBOT_CONFIG_PATH;
          inherit (c.home.sessionVariables) CLAWDBOT_NIX_MODE CLAWDBOT_STATE_DIR;
          packages = ours c.home.packages;
        };
      expected = {
        vars = true;
        CLAWDBOT_NIX_MODE = "1";
        CLAWDBOT_STATE_DIR = "/home/alice/.clawdbot";
        packages = [ "clawdbot-0.1.0" ];
      };
    };

    # migrateState: the user unit gets an ExecStartPre whose failure is ignored; launchd,
    # which has no such step, runs it from a shell that then becomes the gateway.
    migrateStateRunsBeforeStart = {
      actual = {
        off = (unit { }).Service ? ExecStartPre;
        linux = (unit { migrateState = true; }).Service.ExecStartPre;
        darwin = (agent { migrateState = true; }).ProgramArguments;
      };
      expected = {
        off = false;
        linux = "-${exe} doctor --migrate";
        darwin = [
          "/bin/sh"
          "-c"
          "${darwin.pkgs.clawdbot}/bin/clawdbot doctor --migrate; exec ${darwin.pkgs.clawdbot}/bin/clawdbot gateway"
        ];
      };
    };
    darwinLaunchdAgent = {
      actual =
        let
          c = on darwin { };
          a = c.launchd.agents.clawdbot-gateway.config;
        in
        {
          units = builtins.attrNames c.systemd.user.services;
          inherit (a)
            Label
            RunAtLoad
            KeepAlive
            ProcessType
            ProgramArguments
            StandardOutPath
            StandardErrorPath
            ;
          inherit (a.EnvironmentVariables) CLAWDBOT_NIX_MODE CLAWDBOT_STATE_DIR;
          configIsChecked = lib.hasSuffix "-clawdbot-config.json" a.EnvironmentVariables.CLAWDBOT_CONFIG_PATH;
          logDir = lib.hasInfix "mkdir -p /Users/alice/Library/Logs/clawdbot" c.home.activation.clawdbotLogDir.data;
        };
      expected = {
        units = [ ];
        Label = "org.nix-community.home.clawdbot-gateway";
        RunAtLoad = true;
        KeepAlive = true;
        ProcessType = "Background";
        ProgramArguments = [
          "${darwin.pkgs.clawdbot}/bin/clawdbot"
          "gateway"
        ];
        StandardOutPath = "/Users/alice/Library/Logs/clawdbot/gateway.log";
        StandardErrorPath = "/Users/alice/Library/Logs/clawdbot/gateway.err.log";
        CLAWDBOT_NIX_MODE = "1";
        CLAWDBOT_STATE_DIR = "/Users/alice/.clawdbot";
        configIsChecked = true;
        logDir = true;
      };
    };

    darwinConfigChangeChangesAgent = {
      actual = agent { } == agent { settings.gateway.port = 3000; };
      expected = false;
    };

    darwinSecretsAndPath = {
      actual =
        let
          a = agent {
            secrets.openai-api-key = "/Users/alice/.secrets/openai";
            extraPackages = [ darwin.pkgs.diffutils ];
          };
        in
        {
          inherit (a.EnvironmentVariables) OPENAI_API_KEY_FILE PATH;
        };
      expected = {
        OPENAI_API_KEY_FILE = "/Users/alice/.secrets/openai";
        PATH = "${darwin.pkgs.diffutils}/bin:${darwin.pkgs.clawdbot}/bin:/usr/bin:/bin";
      };
    };

    renamedFromProgramsClawdbot = {
      actual =
        let
          c = evalOn linux [ { programs.clawdbot.enable = true; } ];
        in
        {
          unit = c.systemd.user.services ? clawdbot-gateway;
          warned = lib.any (
            w:
            lib.hasInfix "`programs.clawdbot' defined in" w && lib.hasInfix "renamed to `services.clawdbot'" w
          ) c.warnings;
        };
      expected = {
        unit = true;
        warned = true;
      };
    };

    instanceHasItsOwnUnitConfigAndState = {
      actual =
        let
          c = on linux twoGateways;
          u = c.systemd.user.services.clawdbot-gateway-work;
          e = envOf u;
        in
        {
          units = lib.filter (lib.hasPrefix "clawdbot") (builtins.attrNames c.systemd.user.services);
          inherit (e) CLAWDBOT_STATE_DIR ANTHROPIC_API_KEY_FILE;
          ownConfig = e.CLAWDBOT_CONFIG_PATH != (envOf (unit { })).CLAWDBOT_CONFIG_PATH;
          configName = lib.hasSuffix "-clawdbot-work-config.json" e.CLAWDBOT_CONFIG_PATH;
          triggers = u.Unit.X-Restart-Triggers == [ e.CLAWDBOT_CONFIG_PATH ];
          port = (configOf u).gateway.port;
          workspace = (configOf u).agents.defaults.workspace;
          packages = ours c.home.packages;
          topUntouched = (envOf c.systemd.user.services.clawdbot-gateway) ? ANTHROPIC_API_KEY_FILE;
        };
      expected = {
        units = [
          "clawdbot-gateway"
          "clawdbot-gateway-work"
        ];
        CLAWDBOT_STATE_DIR = "/home/alice/.clawdbot-work";
        ANTHROPIC_API_KEY_FILE = "/home/alice/.secrets/work-anthropic";
        ownConfig = true;
        configName = true;
        triggers = true;
        port = 18790;
        workspace = "/home/alice/clawd-work";
        packages = [
          "clawdbot-0.1.0"
          "clawdbot-work"
        ];
        topUntouched = false;
      };
    };

    instancesWithoutTopLevel = {
      actual =
        let
          c = evalOn linux [ { services.clawdbot.instances.a = { }; } ];
        in
        {
          units = lib.filter (lib.hasPrefix "clawdbot") (builtins.attrNames c.systemd.user.services);
          sessionVariables = c.home.sessionVariables ? CLAWDBOT_CONFIG_PATH;
          packages = ours c.home.packages;
        };
      expected = {
        units = [ "clawdbot-gateway-a" ];
        sessionVariables = false;
        packages = [ "clawdbot-a" ];
      };
    };

    darwinInstanceAgent = {
      actual =
        let
          a = (on darwin twoGateways).launchd.agents.clawdbot-gateway-work.config;
        in
        {
          inherit (a) Label StandardOutPath;
          inherit (a.EnvironmentVariables) CLAWDBOT_STATE_DIR;
        };
      expected = {
        Label = "org.nix-community.home.clawdbot-gateway-work";
        StandardOutPath = "/Users/alice/Library/Logs/clawdbot/gateway-work.log";
        CLAWDBOT_STATE_DIR = "/Users/alice/.clawdbot-work";
      };
    };

    workspaceFromSettingsIsKept = {
      actual =
        let
          c = on linux {
            settings.agents.defaults.workspace = "~/agent";
            workspace.documents."SOUL.md" = "x";
          };
        in
        {
          json = (configOf c.systemd.user.services.clawdbot-gateway).agents.defaults.workspace;
          copiesThere = lib.hasInfix "'/home/alice/agent/SOUL.md'" c.home.activation.clawdbotDocuments.data;
        };
      expected = {
        json = "~/agent";
        copiesThere = true;
      };
    };

    workspaceOption = {
      actual =
        (configOf (unit {
          workspace.path = "/home/alice/assistant";
        })).agents.defaults.workspace;
      expected = "/home/alice/assistant";
    };

    documentsAreCopiedAtActivation = {
      actual =
        let
          a = (on linux { workspace.documents = documents; }).home.activation.clawdbotDocuments;
        in
        {
          inherit (a) after;
          copies =
            map (n: lib.hasInfix "install -D -m 0600 " a.data && lib.hasInfix "'/home/alice/clawd/${n}'" a.data)
              [
                "SOUL.md"
                "AGENTS.md"
                "notes/USER.md"
              ];
          noSymlinks = !lib.hasInfix "ln -s" a.data;
          sourcesInStore = !lib.hasInfix "/fixtures/" a.data;
          dryRunAware = lib.hasInfix "run install" a.data;
        };
      expected = {
        after = [ "writeBoundary" ];
        copies = [
          true
          true
          true
        ];
        noSymlinks = true;
        sourcesInStore = true;
        dryRunAware = true;
      };
    };

    instanceDocumentsGoToItsWorkspace = {
      actual =
        lib.hasInfix "'/home/alice/clawd-work/SOUL.md'"
          (evalOn linux [ { services.clawdbot.instances.work.workspace.documents."SOUL.md" = "x"; } ])
          .home.activation.clawdbotDocuments-work.data;
      expected = true;
    };

    laptopTemplate = {
      actual =
        let
          u = template.systemd.user.services.clawdbot-gateway;
          json = configOf u;
          docs = template.home.activation.clawdbotDocuments.data;
        in
        {
          inherit (envOf u) ANTHROPIC_API_KEY_FILE CLAWDBOT_STATE_DIR;
          tokenFile = json.gateway.auth.tokenFile;
          telegram = json.channels.telegram.tokenFile;
          workspace = json.agents.defaults.workspace;
          documents = map (n: lib.hasInfix "'/home/me/clawd/${n}'" docs) [
            "AGENTS.md"
            "SOUL.md"
            "TOOLS.md"
            "USER.md"
          ];
        };
      expected = {
        ANTHROPIC_API_KEY_FILE = "/home/me/.secrets/anthropic-api-key";
        CLAWDBOT_STATE_DIR = "/home/me/.clawdbot";
        tokenFile = "/home/me/.secrets/clawdbot-gateway-token";
        telegram = "/home/me/.secrets/telegram-bot-token";
        workspace = "/home/me/clawd";
        documents = [
          true
          true
          true
          true
        ];
      };
    };

    laptopTemplateOnDarwin = {
      actual =
        let
          a = (evalOn darwin [ ../../templates/default/clawdbot.nix ]).launchd.agents.clawdbot-gateway.config;
        in
        {
          inherit (a.EnvironmentVariables) ANTHROPIC_API_KEY_FILE;
          inherit (a) RunAtLoad;
        };
      expected = {
        ANTHROPIC_API_KEY_FILE = "/Users/alice/.secrets/anthropic-api-key";
        RunAtLoad = true;
      };
    };

    # --- evaluation must fail ---
    secretInStoreFails = {
      actual = unit { secrets.gateway-token = "/nix/store/abc-token"; };
      expectedError = "services.clawdbot.secrets: a secret file is inside /nix/store";
    };
    inlineSecretFails = {
      actual = unit { settings.channels.telegram.botToken = "123:abc"; };
      expectedError = "services.clawdbot.settings contains inline secrets (channels.telegram.botToken)";
    };
    lanWithoutAuthFails = {
      actual = agent { settings.gateway.bind = "lan"; };
      expectedError = "exposes the gateway beyond loopback without auth";
    };
    twoGatewaysOnOnePortFail = {
      actual = unit { instances.work = { }; };
      expectedError = "services.clawdbot and services.clawdbot.instances.work use the same port 18789";
    };
    instanceSecretInStoreFails = {
      actual = unit {
        instances.work = {
          settings.gateway.port = 1;
          secrets.anthropic-api-key = "/nix/store/abc-key";
        };
      };
      expectedError = "services.clawdbot.instances.work.secrets: a secret file is inside /nix/store";
    };
    documentOutsideWorkspaceFails = {
      actual = unit { workspace.documents."../SOUL.md" = "x"; };
      expectedError = "workspace.documents.\"../SOUL.md\": give a relative path inside the workspace";
    };
    badInstanceNameFails = {
      actual = unit {
        instances."a b".settings.gateway.port = 1;
      };
      expectedError = "instance names may only contain letters, digits";
    };
    typoIsAnError = {
      actual = unit { enabel = true; };
      expectedError = "services.clawdbot.enabel' does not exist";
    };
  };

  # Realised by run.sh (nix-build -A artifacts.<name>).
  artifacts =
    let
      l = on linux (
        twoGateways
        // {
          secrets = {
            gateway-token = "/home/alice/.secrets/clawdbot-gateway-token";
            anthropic-api-key = "/home/alice/.secrets/anthropic-api-key";
          };
          environmentFile = "/home/alice/.secrets/clawdbot.env";
          extraPackages = [ linux.pkgs.diffutils ];
        }
      );
      d = on darwin twoGateways;
      a = on linux {
        workspace.path = workspace;
        workspace.documents = documents;
        stateDir = "${workspace}-state";
        inherit skills;
      };
    in
    {
      # HM's own unit files, as it links them into ~/.config/systemd/user.
      units = linux.pkgs.runCommand "hm-units" { } ''
        mkdir -p $out
        cp ${l.xdg.configFile."systemd/user/clawdbot-gateway.service".source} $out/clawdbot-gateway.service
        cp ${
          l.xdg.configFile."systemd/user/clawdbot-gateway-work.service".source
        } $out/clawdbot-gateway-work.service
      '';
      # The template's unit: building it runs check-config on the template's settings.
      templateUnit = linux.pkgs.runCommand "hm-template-unit" { } ''
        mkdir -p $out
        cp ${
          template.xdg.configFile."systemd/user/clawdbot-gateway.service".source
        } $out/clawdbot-gateway.service
      '';
      # HM's darwin builder commands link LaunchAgents/ into the generation; copy it out.
      plists = darwin.pkgs.runCommand "hm-plists" { commands = d.home.extraBuilderCommands; } ''
        gen=$(mktemp -d)
        (out=$gen; eval "$commands")
        mkdir -p $out
        cp -L $gen/LaunchAgents/*.plist $out/
      '';
      # The instance's `clawdbot-work` command (home.packages), with the real binary.
      cli = linux.pkgs.runCommand "hm-cli" { } ''
        mkdir -p $out/bin
        cp ${lib.findFirst (p: p.name == "clawdbot-work") null l.home.packages}/bin/* $out/bin/
      '';
      # The documents and skills steps of the activation script, with HM's `run` as a
      # plain call.
      activation = linux.pkgs.writeShellScript "clawdbot-documents-activation" ''
        set -eu
        run() { "$@"; }
        ${a.home.activation.clawdbotDocuments.data}
        ${a.home.activation.clawdbotSkills.data}
      '';
    };
}
