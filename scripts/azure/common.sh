# Sourced by the scripts in scripts/azure: the azd environment's values, the az sign-in and subscription, polling.
#
# azd's sign-in (`azd auth login`) is not the Azure CLI's: these scripts call `az`, which needs its own `az login`
# (in the deploy workflow, azure/login). Every az call names the deployment's subscription explicitly, so an `az`
# whose default subscription is another one still acts on the right resources.
# shellcheck shell=bash

die() { echo "error: $*" >&2; exit 1; }

# Outside an azd hook (a person running a script by hand), read the environment's values from azd. azd hooks get
# them in their environment already (azure-dev: pkg/ext/hooks_runner.go passes the env's values to the hook).
load_azd_env() {
  if [ -z "${AZURE_RESOURCE_GROUP:-}" ] && command -v azd >/dev/null; then
    eval "$(azd env get-values)"
  fi
}

# Fail at once, saying what to do, unless `az` is signed in and can see the deployment's subscription.
require_az() {
  command -v az >/dev/null || die "the Azure CLI (az) is not installed: https://learn.microsoft.com/cli/azure/install-azure-cli"
  : "${AZURE_SUBSCRIPTION_ID:?the subscription id of the deployment (azd sets AZURE_SUBSCRIPTION_ID)}"
  if ! az account show --subscription "$AZURE_SUBSCRIPTION_ID" --query id --output tsv >/dev/null 2>&1; then
    die "the Azure CLI cannot see subscription $AZURE_SUBSCRIPTION_ID. azd's sign-in is separate from az's:" \
      "run 'az login' (and 'azd auth login'), then run this again. docs/deploy.md#before-you-start"
  fi
}

# az on the deployment's subscription, whatever az's default is.
az_sub() { az "$@" --subscription "$AZURE_SUBSCRIPTION_ID"; }

# poll_until TRIES DESCRIPTION COMMAND...: run COMMAND until it succeeds and prints something, at most TRIES times,
# TRANSCRIBE_POLL_S seconds apart (10 by default); prints what it printed.
poll_until() {
  local tries=$1 what=$2 out attempt
  shift 2
  for attempt in $(seq 1 "$tries"); do
    if out=$("$@" 2>/dev/null) && [ -n "$out" ]; then printf '%s\n' "$out"; return 0; fi
    echo "$what: not yet ($attempt/$tries)" >&2
    [ "$attempt" -lt "$tries" ] && sleep "${TRANSCRIBE_POLL_S:-10}"
  done
  return 1
}
