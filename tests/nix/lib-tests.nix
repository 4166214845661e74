# Tier A: the builtins-only helpers of nix/lib.nix.
{ ... }:
let
  clib = import ../../nix/lib.nix;
  hasInfix = needle: s: builtins.replaceStrings [ needle ] [ "" ] s != s;
in
{
  cases = {
    # nix/docker.nix with a stand-in dockerTools that returns its arguments.
    dockerImageShape = {
      actual =
        let
          img = import ../../nix/docker.nix {
            dockerTools = {
              buildLayeredImage = args: args;
              caCertificates = "ca";
            };
            gateway = {
              version = "0.1.0";
            };
            busybox = "busybox";
          };
        in
        {
          inherit (img) name tag;
          inherit (img.config)
            User
            Cmd
            Entrypoint
            WorkingDir
            ExposedPorts
            ;
          home = builtins.elem "HOME=/home/node" img.config.Env;
          health = img.config.Healthcheck.Test;
          interval = img.config.Healthcheck.Interval;
          ownsHome = builtins.match ".*chown -R 1000:1000 home/node.*" img.fakeRootCommands != null;
          stateMode = builtins.match ".*chmod 0700 ./home/node/.clawdbot.*" img.fakeRootCommands != null;
          busyboxPath =
            builtins.match ".*ln -s /bin/busybox usr/local/bin/busybox.*" img.extraCommands != null;
        };
      expected = {
        name = "clawdbot";
        tag = "0.1.0";
        User = "1000:1000";
        # The same as the Dockerfile's (both from nix/container-contract.json).
        Cmd = [
          "clawdbot"
          "gateway"
          "--bind"
          "lan"
          "--port"
          "18789"
        ];
        Entrypoint = [ ];
        WorkingDir = "/home/node";
        ExposedPorts."18789/tcp" = { };
        home = true;
        health = [
          "CMD"
          "/usr/local/bin/busybox"
          "wget"
          "-q"
          "-O"
          "/dev/null"
          "http://127.0.0.1:18789/healthz"
        ];
        interval = 30000000000;
        ownsHome = true;
        stateMode = true;
        busyboxPath = true;
      };
    };
    stripNulls = {
      actual = clib.stripNulls {
        a = null;
        b = {
          c = null;
          d = 1;
        };
        e = [ { f = null; } ];
      };
      expected = {
        b.d = 1;
        e = [ { } ];
      };
    };
    storePaths = {
      actual = map clib.isStorePath [
        "/nix/store/abc-token"
        "/run/agenix/token"
        "/nix/storefront"
      ];
      expected = [
        true
        false
        false
      ];
    };
    inlineSecretsFound = {
      actual = clib.inlineSecrets {
        gateway.auth.token = "x";
        gateway.auth.tokenFile = "/run/x";
        channels.telegram.botToken = "y";
        models.providers.o.apiKey = "";
        browser.controlToken = "z";
        hooks.gmail.pushToken = "p";
        channels.msteams.appPassword = "m";
        agents.defaults.contextTokens = "200000";
        x.client_secret = "s";
      };
      expected = [
        "browser.controlToken"
        "channels.msteams.appPassword"
        "channels.telegram.botToken"
        "gateway.auth.token"
        "hooks.gmail.pushToken"
        "x.client_secret"
      ];
    };
    apiKeyEnv = {
      actual = clib.apiKeyEnv (n: "/run/credentials/u/${n}") {
        anthropic-api-key = "/run/agenix/a";
        open-router-api-key = "/run/agenix/o";
        telegram-bot-token = "/run/agenix/tg";
      };
      expected = {
        ANTHROPIC_API_KEY_FILE = "/run/credentials/u/anthropic-api-key";
        OPEN_ROUTER_API_KEY_FILE = "/run/credentials/u/open-router-api-key";
      };
    };
    secretFilesWired = {
      actual = clib.withSecretFiles { gateway.port = 1; } (n: "/run/credentials/u/${n}") {
        gateway-token = "/run/agenix/t";
        telegram-bot-token = "/run/agenix/tg";
        unknown-name = "/run/agenix/u";
      };
      expected = {
        gateway = {
          port = 1;
          auth.tokenFile = "/run/credentials/u/gateway-token";
        };
        channels.telegram.tokenFile = "/run/credentials/u/telegram-bot-token";
      };
    };
    credentials = {
      actual = clib.credentials {
        gateway-token = "/run/agenix/t";
        b = "/x";
      };
      expected = [
        "b:/x"
        "gateway-token:/run/agenix/t"
      ];
    };
    environment = {
      actual = clib.serviceEnvironment {
        stateDir = "/var/lib/clawdbot";
        configPath = "/nix/store/x-clawdbot.json";
      };
      # The log level is a config key now (settings.logging.level), not CLAWDBOT_LOG.
      expected = {
        CLAWDBOT_NIX_MODE = "1";
        CLAWDBOT_STATE_DIR = "/var/lib/clawdbot";
        CLAWDBOT_CONFIG_PATH = "/nix/store/x-clawdbot.json";
      };
    };
    # The renamed logLevel fills settings.logging.level, unless settings set it.
    logLevelMovesIntoSettings = {
      actual = [
        (clib.withLogLevel { } "debug")
        (clib.withLogLevel { logging.level = "warn"; } "debug")
        (clib.withLogLevel { logging.file = "/x"; } null)
      ];
      expected = [
        { logging.level = "debug"; }
        { logging.level = "warn"; }
        { logging.file = "/x"; }
      ];
    };
    # cron.jobs from the option join settings' own, the option's job winning a key.
    cronJobsJoinSettings = {
      actual = [
        (clib.withCronJobs { cron.enabled = true; } { })
        (clib.withCronJobs {
          cron.jobs.a = 1;
          cron.jobs.b = 2;
        } { b = 3; })
      ];
      expected = [
        { cron.enabled = true; }
        {
          cron.jobs = {
            a = 1;
            b = 3;
          };
        }
      ];
    };
    skillNames = {
      actual = map clib.isSkillName [
        "weather"
        "gog-cli_2.x"
        ".hidden"
        "a/b"
        ""
        ".."
      ];
      expected = [
        true
        true
        false
        false
        false
        false
      ];
    };
    # The link script quotes every name and path, and never removes a real directory.
    linkSkillsScript = {
      actual =
        let
          sh = clib.linkSkills {
            dir = "/var/lib/clawdbot/skills";
            skills."it's" = "/nix/store/abc-its";
          };
        in
        [
          (hasInfix "ln -sfn '/nix/store/abc-its' '/var/lib/clawdbot/skills/it'\\''s'" sh)
          (hasInfix "[ -L \"$link\" ] || continue" sh)
          (hasInfix "/nix/store/*) ;; *) continue" sh)
        ];
      expected = [
        true
        true
        true
      ];
    };
    publicBind = {
      actual = map clib.isPublicBind [
        "loopback"
        "lan"
        null
      ];
      expected = [
        false
        true
        false
      ];
    };
    secretAssertions = {
      actual =
        map (a: a.assertion) (
          clib.secretAssertions {
            secrets.t = "/nix/store/x-token";
            settings.gateway.auth.token = "inline";
          }
        )
        ++ map (a: a.assertion) (
          clib.secretAssertions {
            secrets.t = "/run/agenix/t";
            settings.gateway.port = 1;
          }
        );
      expected = [
        false
        false
        true
        true
      ];
    };
    secretAssertionsNameTheInstance = {
      actual = map (a: a.message) (
        builtins.filter (a: !a.assertion) (
          clib.secretAssertionsAt "services.clawdbot.instances.work" {
            secrets.t = "/nix/store/x-token";
            settings = { };
          }
        )
      );
      expected = [
        "services.clawdbot.instances.work.secrets: a secret file is inside /nix/store, which is world-readable; point it at a file outside the store (agenix, sops-nix, /run/keys or ~/.secrets)."
      ];
    };
    bindNeedsAuth =
      let
        gw = bind: secrets: {
          inherit secrets;
          settings.gateway = {
            inherit bind;
            auth = { };
          };
          environmentFile = null;
        };
      in
      {
        actual = map (g: (clib.bindAssertion "x" g).assertion) [
          (gw "loopback" { })
          (gw "lan" { })
          (gw "lan" { gateway-token = "/run/t"; })
          (gw "tailnet" { gateway-password = "/run/p"; })
        ];
        expected = [
          true
          false
          true
          true
        ];
      };
    portConflictsNameAll = {
      actual = map (a: a.message) (
        builtins.filter (a: !a.assertion) (
          clib.portAssertions [
            {
              at = "services.clawdbot";
              port = 18789;
            }
            {
              at = "services.clawdbot.instances.a";
              port = 18790;
            }
            {
              at = "services.clawdbot.instances.b";
              port = 18789;
            }
          ]
        )
      );
      expected = [
        "services.clawdbot and services.clawdbot.instances.b use the same port 18789 (settings.gateway.port); give each gateway its own port."
      ];
    };
    unitNames = {
      actual = map clib.unitName [
        null
        "work"
      ];
      expected = [
        "clawdbot-gateway"
        "clawdbot-gateway-work"
      ];
    };
    workspaceInjectedUnlessSet = {
      actual = [
        (clib.withWorkspace { gateway.port = 1; } "/w")
        (clib.withWorkspace { agents.list = [ ]; } "/w")
        (clib.withWorkspace { agents.defaults.workspace = "~/mine"; } "/w")
      ];
      expected = [
        {
          gateway.port = 1;
          agents.defaults.workspace = "/w";
        }
        {
          agents.list = [ ];
          agents.defaults.workspace = "/w";
        }
        { agents.defaults.workspace = "~/mine"; }
      ];
    };
    documentNames = {
      actual = map clib.isDocumentName [
        "SOUL.md"
        "memory/notes.md"
        "../SOUL.md"
        "/etc/passwd"
        "a//b"
        "./a"
        ""
      ];
      expected = [
        true
        true
        false
        false
        false
        false
        false
      ];
    };
    copyDocumentsQuotes = {
      actual = clib.copyDocuments {
        workspace = "/home/o'brien/clawd";
        documents."SOUL.md" = "/nix/store/x-soul";
        run = "run ";
      };
      expected = builtins.concatStringsSep "\n" [
        "if [ -L '/home/o'\\''brien/clawd/SOUL.md' ] || ! cmp -s '/nix/store/x-soul' '/home/o'\\''brien/clawd/SOUL.md'; then"
        "  run rm -f '/home/o'\\''brien/clawd/SOUL.md'"
        "  run install -D -m 0600 '/nix/store/x-soul' '/home/o'\\''brien/clawd/SOUL.md'"
        "fi"
        ""
      ];
    };
    missingAttrIsAnError = {
      actual = clib.noSuchHelper;
      expectedError = "attribute 'noSuchHelper' missing";
    };
  };
}
