# The options of one gateway, shared by the NixOS and Home Manager modules, by the top
# level (services.clawdbot) and by every instance (services.clawdbot.instances.<name>).
# `d` holds the defaults that differ between them: package, stateDir, workspace (each with
# a *Text variant for the documentation).
{
  lib,
  json,
}:
d:
let
  document = lib.types.submodule {
    options = {
      source = lib.mkOption {
        type = lib.types.nullOr lib.types.path;
        default = null;
        description = "File to copy (a path in your configuration, copied to the store first).";
      };
      text = lib.mkOption {
        type = lib.types.nullOr lib.types.lines;
        default = null;
        description = "The document's text.";
      };
    };
  };
  # A path (./SOUL.md, or a store path string) is a source; any other string is text.
  toDocument = v: if builtins.isPath v || lib.isStorePath v then { source = v; } else { text = v; };
  # A skill: a directory holding SKILL.md (a path in your configuration) or a package
  # whose output is such a directory.
  skill = lib.types.either lib.types.path lib.types.package;
  # The name a listed skill gets: a package's pname, else the directory's name (without
  # the store hash).
  skillName =
    v:
    if lib.isDerivation v then
      v.pname or (lib.getName v)
    else
      let
        base = baseNameOf (toString v);
      in
      if lib.isStorePath (toString v) then builtins.substring 33 (-1) base else base;
  skillsFromList = l: builtins.listToAttrs (map (v: lib.nameValuePair (skillName v) v) l);
  logLevels = [
    "silent"
    "fatal"
    "error"
    "warn"
    "info"
    "debug"
    "trace"
  ];
in
{
  package = lib.mkOption {
    type = lib.types.package;
    default = d.package;
    defaultText = d.packageText;
    description = "The clawdbot package to run.";
  };

  settings = lib.mkOption {
    description = ''
      Gateway configuration (clawdbot.json), validated by `clawdbot check-config` at build
      time. Any key of the original's config is accepted; secrets never go here (use
      `secrets`).

      Tool sandbox: `agents.defaults.sandbox` (the original's keys) confines each tool
      process with Landlock, seccomp and rlimits, no Docker and no namespaces, so it works
      inside this unit. Default `mode = "non-main"` (sessions other than the agent's main
      one are sandboxed; the original defaults to `"off"`), `workspaceAccess = "none"`,
      `docker.network = "none"`; limits: `docker.memory`, `docker.cpus`,
      `docker.pidsLimit`, `docker.ulimits`. `mode = "off"` turns it off.
    '';
    default = { };
    type = lib.types.submodule {
      freeformType = json.type;
      options.logging = lib.mkOption {
        default = { };
        description = "The `logging` section.";
        type = lib.types.submodule {
          freeformType = json.type;
          options.level = lib.mkOption {
            type = lib.types.nullOr (lib.types.enum logLevels);
            default = null;
            description = "Log level of the gateway (and of its log file); default `info`. Replaces the old `logLevel` option.";
          };
        };
      };
      options.gateway = lib.mkOption {
        default = { };
        description = "The `gateway` section.";
        type = lib.types.submodule {
          freeformType = json.type;
          options = {
            port = lib.mkOption {
              type = lib.types.port;
              default = 18789;
              description = "Port for WebSocket and HTTP.";
            };
            bind = lib.mkOption {
              type = lib.types.enum [
                "loopback"
                "lan"
                "tailnet"
                "auto"
                "custom"
              ];
              default = "loopback";
              description = "Interfaces to listen on; anything but loopback needs a token or password.";
            };
            auth = lib.mkOption {
              default = { };
              description = "The `gateway.auth` section (secrets as files only).";
              type = lib.types.submodule {
                freeformType = json.type;
                options = {
                  mode = lib.mkOption {
                    type = lib.types.nullOr (
                      lib.types.enum [
                        "token"
                        "password"
                      ]
                    );
                    default = null;
                    description = "Auth mode (default: token, or password when only a password is set).";
                  };
                  tokenFile = lib.mkOption {
                    type = lib.types.nullOr lib.types.str;
                    default = null;
                    description = "File holding the gateway token (read at start, outside the store).";
                  };
                  passwordFile = lib.mkOption {
                    type = lib.types.nullOr lib.types.str;
                    default = null;
                    description = "File holding the gateway password.";
                  };
                };
              };
            };
          };
        };
      };
    };
  };

  configFile = lib.mkOption {
    type = lib.types.nullOr lib.types.path;
    default = null;
    description = ''
      Use this config file instead of `settings`. A file in your configuration (a path
      value, copied to the store) is checked by `clawdbot check-config --no-secrets` at
      build time like `settings` (see `checkConfigFile`); an absolute path outside the
      store is read as it is when the gateway starts, and checked then.
    '';
  };

  checkConfigFile = lib.mkOption {
    type = lib.types.bool;
    default = true;
    description = ''
      Check `configFile` at build time. Turn off only for a config whose `$include`
      files exist at run time alone (the gateway still checks the whole config when it
      starts, and refuses to start on an invalid one).
    '';
  };

  secrets = lib.mkOption {
    type = lib.types.attrsOf lib.types.path;
    default = { };
    example = lib.literalExpression ''{ gateway-token = "/run/agenix/clawdbot-token"; }'';
    description = ''
      Secret files, by name, passed to the gateway as files (NixOS: LoadCredential;
      Home Manager: the config's *File keys). Never read at evaluation, never copied to
      the store. Known names: gateway-token,
      gateway-password, telegram-bot-token (channels.telegram.tokenFile),
      discord-bot-token (channels.discord.tokenFile: a Discord bot, with the Message
      Content intent enabled in the Developer Portal), and
      `<provider>-api-key` for model providers (anthropic-api-key, openai-api-key, …;
      passed as `<PROVIDER>_API_KEY_FILE`).
    '';
  };

  environmentFile = lib.mkOption {
    type = lib.types.nullOr lib.types.path;
    default = null;
    description = "An EnvironmentFile= for the service (e.g. CLAWDBOT_GATEWAY_TOKEN=…); keep it outside the store.";
  };

  extraPackages = lib.mkOption {
    type = lib.types.listOf lib.types.package;
    default = [ ];
    description = "Programs on the service's PATH (tools the agent may run).";
  };

  # Renamed to settings.logging.level; still honoured, with a warning (core.nix).
  logLevel = lib.mkOption {
    type = lib.types.nullOr (lib.types.enum logLevels);
    default = null;
    visible = false;
    description = "Deprecated: use `settings.logging.level`.";
  };

  skills = lib.mkOption {
    type = lib.types.coercedTo (lib.types.listOf skill) skillsFromList (lib.types.attrsOf skill);
    default = { };
    example = lib.literalExpression ''
      {
        weather = ./skills/weather;        # a directory holding SKILL.md
        gog = pkgs.clawdbot-skill-gog;     # a package whose output is one
      }
    '';
    description = ''
      Skills, by name: each a directory holding `SKILL.md` (a path in your configuration,
      or a package whose output is such a directory); a list takes each name from the
      package's `pname` or the directory's name. They are linked into the managed skills
      dir (`<stateDir>/skills/<name>`, pointing into the store) at activation (Home
      Manager) or before each start (NixOS), so a rollback brings back the previous
      generation's skills. Links into the store whose name is no longer declared are
      removed; skills you installed yourself there (real directories) are left alone, and
      one of the same name as a declared skill keeps its place (with a warning). A
      workspace skill (`<workspace>/skills/<name>`) still overrides a declared one.
      Programs a skill needs go in `extraPackages`; `clawdbot skills check` tells what is
      missing.
    '';
  };

  cron.jobs = lib.mkOption {
    type = lib.types.attrsOf json.type;
    default = { };
    example = lib.literalExpression ''
      {
        morning-inbox = {
          schedule = { kind = "cron"; expr = "0 7 * * *"; tz = "Europe/Lisbon"; };
          payload = {
            kind = "agentTurn";
            message = "Summarise my inbox.";
            deliver = true;
            channel = "telegram";
            to = "123456789";
          };
        };
        stretch = {
          schedule = { kind = "every"; everyMs = 3600000; };
          payload = { kind = "systemEvent"; text = "Remind me to stretch."; };
        };
      }
    '';
    description = ''
      Scheduled jobs, by key, in the shape of the original's `cron.add` (`schedule`
      `{kind = "at"; atMs}` / `{kind = "every"; everyMs; anchorMs?}` /
      `{kind = "cron"; expr; tz?}`, `payload` `{kind = "systemEvent"; text}` or
      `{kind = "agentTurn"; message; deliver?; channel?; to?; model?}`, and optional
      `name`, `description`, `enabled`, `agentId`, `sessionTarget` (default: `main` for
      a system event, `isolated` for an agent turn), `wakeMode`). Written to the config as
      `cron.jobs` and checked at build time. The gateway reconciles them into its cron
      store at start and on every reload: a declared job is created, updated (its run
      history kept) or removed with its declaration; jobs made at run time
      (`clawdbot cron add`) are kept. A declared job has the id `declared:<key>`, and
      `cron.update`/`cron.remove` refuse it with this option's name.
    '';
  };

  migrateState = lib.mkOption {
    type = lib.types.bool;
    default = false;
    description = ''
      Run `clawdbot doctor --migrate` before each start: state files in an older format
      are upgraded to this release's (each one backed up first as `<file>.v<N>.bak`). Off
      by default, so that after a rollback the previous release can still read every
      state file (docs/state-format.md); turn it on once you will not go back. A failed
      migration does not stop the gateway from starting (the files stay as they were).
    '';
  };

  extraArgs = lib.mkOption {
    type = lib.types.listOf lib.types.str;
    default = [ ];
    description = "Extra arguments to `clawdbot gateway`.";
  };

  stateDir = lib.mkOption {
    type = lib.types.str;
    default = d.stateDir;
    defaultText = d.stateDirText;
    description = "Runtime state (devices, sessions, logs, the generated token); never managed by Nix.";
  };

  workspace = {
    path = lib.mkOption {
      type = lib.types.str;
      default = d.workspace;
      defaultText = d.workspaceText;
      description = ''
        The agent's workspace: its documents and the files its tools work on. Passed to
        the gateway as `agents.defaults.workspace`, unless `settings` sets that key (then
        this defaults to it).
      '';
    };
    documents = lib.mkOption {
      type = lib.types.attrsOf (
        lib.types.coercedTo (lib.types.either lib.types.path lib.types.str) toDocument document
      );
      default = { };
      example = lib.literalExpression ''
        {
          "AGENTS.md" = ./documents/AGENTS.md;
          "SOUL.md" = ./documents/SOUL.md;
          "USER.md" = "I am Alice; I live in Lisbon.";
        }
      '';
      description = ''
        Documents copied into the workspace (AGENTS.md, SOUL.md, TOOLS.md, IDENTITY.md,
        USER.md, or any relative path), as regular files of mode 0600 owned by the
        gateway's user, not as links into the store. A path value is a file to copy, a
        string is the text itself (or give `{ source = …; }` / `{ text = …; }`).
        They are copied again on every switch (Home Manager) or start (NixOS), so edits the
        agent makes to a declared document do not survive; undeclared files are left
        alone, including documents you stop declaring.
      '';
    };
  };
}
