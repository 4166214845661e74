# The option declarations of both modules as JSON, for docs/nix-options.md
# (tests/nix/options-doc.sh formats them). The NixOS module is evaluated in our harness,
# the Home Manager module inside Home Manager's real module set.
{
  lib,
  homeManager,
  ...
}:
let
  nixos = (import ./harness/nixos.nix { inherit lib; }).eval [ ];
  hm =
    (import ./harness/home-manager.nix {
      inherit lib homeManager;
      system = "x86_64-linux";
    }).eval
      [ ../../modules/home-manager.nix ];
  root = toString ../..;
  # Declarations relative to the repository (no machine paths in the generated file).
  relative = f: lib.removePrefix "${root}/" (toString f);
  render =
    v:
    if v ? _type && v._type == "literalExpression" then
      {
        code = v.text;
      }
    else if v ? _type && v._type == "literalMD" then
      {
        markdown = v.text;
      }
    else
      {
        code = builtins.toJSON v;
      };
  doc =
    options:
    map (
      o:
      {
        inherit (o) name description type;
        declarations = map relative o.declarations;
      }
      // lib.optionalAttrs (o ? default) { default = render o.default; }
      // lib.optionalAttrs (o ? example) { example = render o.example; }
    ) (lib.filter (o: o.visible != false && !o.internal) (lib.optionAttrSetToDocList options));
in
{
  nixos = doc nixos.options.services.clawdbot;
  homeManager = doc hm.options.services.clawdbot;
}
