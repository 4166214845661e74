# The assistant: a gateway on loopback, secrets as files under ~/.secrets (create them
# with mode 0600; they are read when the gateway starts, never copied to the store).
{ config, ... }:
{
  services.clawdbot = {
    enable = true;
    secrets = {
      gateway-token = "${config.home.homeDirectory}/.secrets/clawdbot-gateway-token";
      telegram-bot-token = "${config.home.homeDirectory}/.secrets/telegram-bot-token";
    };
    settings = {
      gateway.mode = "local";
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
  };
}
