# The assistant on this laptop: a gateway on loopback, a Telegram bot, Claude as the model.
# Secrets are files under ~/.secrets, created by you with mode 0600; the gateway reads them
# when it starts, and they never enter the Nix store:
#   mkdir -p ~/.secrets && chmod 700 ~/.secrets
#   install -m 0600 /dev/null ~/.secrets/anthropic-api-key   # then paste the key into it
#   install -m 0600 /dev/null ~/.secrets/telegram-bot-token  # from @BotFather
#   head -c 32 /dev/urandom | base64 > ~/.secrets/clawdbot-gateway-token && chmod 600 ~/.secrets/clawdbot-gateway-token
{ config, ... }:
let
  secrets = "${config.home.homeDirectory}/.secrets";
in
{
  services.clawdbot = {
    enable = true;

    secrets = {
      gateway-token = "${secrets}/clawdbot-gateway-token";
      telegram-bot-token = "${secrets}/telegram-bot-token";
      anthropic-api-key = "${secrets}/anthropic-api-key";
    };

    settings = {
      gateway.mode = "local";
      # New Telegram senders get a pairing code; let them in with `clawdbot pairing approve`.
      channels.telegram = {
        enabled = true;
        dmPolicy = "pairing";
      };
      agents = {
        defaults.model.primary = "anthropic/claude-opus-4-5";
        list = [
          {
            id = "main";
            default = true;
          }
        ];
      };
    };

    # Who the assistant is and how it works: copied into ~/clawd on every switch. Edit the
    # files here, not in ~/clawd (copies there are replaced).
    workspace.documents = {
      "AGENTS.md" = ./documents/AGENTS.md;
      "SOUL.md" = ./documents/SOUL.md;
      "TOOLS.md" = ./documents/TOOLS.md;
      "USER.md" = ./documents/USER.md;
    };
  };
}
