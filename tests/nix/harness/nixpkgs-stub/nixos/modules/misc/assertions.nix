# Home Manager imports nixpkgs' nixos/modules/misc/assertions.nix by path; this declares
# the same two options (assertions, warnings) so no nixpkgs tree is needed.
{ lib, ... }:
{
  options.assertions = lib.mkOption {
    type = lib.types.listOf lib.types.unspecified;
    default = [ ];
    internal = true;
    description = "Checks that abort the evaluation when one fails.";
  };
  options.warnings = lib.mkOption {
    type = lib.types.listOf lib.types.str;
    default = [ ];
    internal = true;
    description = "Messages shown after the evaluation.";
  };
}
