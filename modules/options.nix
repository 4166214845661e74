# Options shared by the NixOS and Home Manager modules.
{
  lib,
  pkgs,
  json,
}:
{
  enable = lib.mkEnableOption "the clawdbot gateway (a personal AI assistant daemon)";

  package = lib.mkOption {
    type = lib.types.package;
    default = pkgs.clawdbot;
    defaultText = lib.literalExpression "pkgs.clawdbot (the flake's module sets its own build)";
    description = "The clawdbot package to run.";
  };

  settings = lib.mkOption {
    description = ''
      Gateway configuration (clawdbot.json), validated by `clawdbot check-config` at build
      time. Any key of the original's config is accepted; secrets never go here (use
      `secrets`).
    '';
    default = { };
    type = lib.types.submodule {
      freeformType = json.type;
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
    description = "Use this config file instead of `settings` (it is not checked at build time).";
  };

  secrets = lib.mkOption {
    type = lib.types.attrsOf lib.types.path;
    default = { };
    example = lib.literalExpression ''{ gateway-token = "/run/agenix/clawdbot-token"; }'';
    description = ''
      Secret files, by name, passed to the gateway as files (NixOS: LoadCredential;
      Home Manager: the config's *File keys). Never read at evaluation, never copied to
      the store. Known names: gateway-token,
      gateway-password, telegram-bot-token, discord-bot-token, and
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

  logLevel = lib.mkOption {
    type = lib.types.enum [
      "error"
      "warn"
      "info"
      "debug"
      "trace"
    ];
    default = "info";
    description = "Log level.";
  };

  extraArgs = lib.mkOption {
    type = lib.types.listOf lib.types.str;
    default = [ ];
    description = "Extra arguments to `clawdbot gateway`.";
  };
}
