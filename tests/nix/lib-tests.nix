# Tier A: the builtins-only helpers of nix/lib.nix.
{ ... }:
let
  clib = import ../../nix/lib.nix;
in
{
  cases = {
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
      };
      expected = [
        "channels.telegram.botToken"
        "gateway.auth.token"
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
        logLevel = "debug";
      };
      expected = {
        CLAWDBOT_NIX_MODE = "1";
        CLAWDBOT_STATE_DIR = "/var/lib/clawdbot";
        CLAWDBOT_CONFIG_PATH = "/nix/store/x-clawdbot.json";
        CLAWDBOT_LOG = "debug";
      };
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
    missingAttrIsAnError = {
      actual = clib.noSuchHelper;
      expectedError = "attribute 'noSuchHelper' missing";
    };
  };
}
