<#
.SYNOPSIS
    The README's demo: WandbLaunch end to end on a temporary local store, or on a W&B server.
.DESCRIPTION
    Creates a local-process queue with a template variable and prioritization, writes and validates an agent
    config, submits jobs at different priorities, runs an agent until they finish, and shows the results and a log.
.PARAMETER Wandb
    Runs the same flow on the W&B server given by WANDB_BASE_URL (default https://api.wandb.ai), WANDB_API_KEY (or
    the netrc entry of wandb login) and WANDB_ENTITY: a queue named wandblaunch-demo-<random> in
    <entity>/model-registry (removed at the end) and runs in project wandblaunch-demo. The jobs call wandb.init when
    the wandb package is installed, otherwise they do what it does on the wire (upsertBucket), so that the agent
    sees their runs start and the job list shows how each run ended.
.PARAMETER WandbStandIn
    As -Wandb, on the W&B server stand-in the tests use (tests/WandbServer, built when needed), in this process.
#>
param([switch] $Wandb, [switch] $WandbStandIn)
$ErrorActionPreference = 'Stop'
$root = Split-Path $PSScriptRoot -Parent
$work = Join-Path ([IO.Path]::GetTempPath()) ("wandblaunch-demo-" + [guid]::NewGuid().ToString('n').Substring(0, 8))
New-Item -ItemType Directory -Path $work | Out-Null
$onWandb = $Wandb -or $WandbStandIn
$server = $null
if (-not $onWandb) { $env:WANDB_LAUNCH_DB = Join-Path $work 'launch.db' }

function Show-Step([string] $Text) { Write-Host "`n== $Text" -ForegroundColor Cyan }

Import-Module (Join-Path $root 'WandbLaunch.psd1')

$queue = 'demo'
$env_ = @{ EPOCHS = '{{epochs}}' }
if ($onWandb) {
    if ($WandbStandIn) {
        Show-Step 'The W&B server stand-in (tests/WandbServer) on 127.0.0.1, with a user "demo"'
        Add-Type -Path (& (Join-Path $PSScriptRoot 'Find-WandbStandIn.ps1'))
        $server = [WandbLaunch.Tests.WandbServer.WandbStandIn]::new()
        $key = $server.AddUser('demo')
        Connect-WandbLaunch -BaseUrl $server.Url.ToString().TrimEnd('/') -ApiKey $key -Entity demo | Format-List
        # The jobs' own environment reaches the stand-in with the agent's key (the agent passes WANDB_API_KEY).
    }
    else {
        Show-Step 'Connecting to the W&B server (WANDB_BASE_URL, WANDB_API_KEY, WANDB_ENTITY)'
        Connect-WandbLaunch -Wandb | Format-List
    }
    $queue = 'wandblaunch-demo-' + [guid]::NewGuid().ToString('n').Substring(0, 6)
    # Tells the demo's script to start its run on the server (wandb.init, or what it sends).
    $env_.DEMO_WANDB_RUN = '1'
}

Show-Step "A local-process queue with a template variable and prioritization ($((Get-WandbLaunchConnection).Location))"
New-WandbLaunchQueue -Name $queue -Resource local-process -Prioritization `
    -Configuration @{ env = $env_ } `
    -TemplateVariable @{ epochs = @{ type = 'integer'; minimum = 1; maximum = 10; default = 2 } } |
    Format-List

Show-Step 'An agent config (launch-config.yaml), validated'
$configPath = Join-Path $work 'launch-config.yaml'
New-WandbLaunchAgentConfig -Path $configPath -Queue $queue -MaxJobs 2 -BuilderType noop | Out-Null
Get-Content $configPath | ForEach-Object { "    $_" }
"Test-WandbLaunchAgentConfig: $(Test-WandbLaunchAgentConfig -Path $configPath)"
Get-WandbLaunchAgentConfig -Path $configPath -Effective | Format-List

Show-Step 'The code the jobs run: a small training script'
$code = Join-Path $work 'code'
New-Item -ItemType Directory -Path $code | Out-Null
@'
import base64, json, os, sys, time, urllib.request
config = json.loads(os.environ.get("WANDB_CONFIG", "{}"))
epochs = int(os.environ["EPOCHS"])

def run_state(state):
    """On a W&B server: wandb.init / finish when the wandb package is here, else what they send (upsertBucket)."""
    if not os.environ.get("DEMO_WANDB_RUN"):
        return
    try:
        import wandb
        if state == "running":
            wandb.init()
        else:
            wandb.finish(exit_code=0 if state == "finished" else 2)
        return
    except ImportError:
        pass
    query = ("mutation UpsertBucket($name: String, $project: String, $entity: String, $state: String) {"
             " upsertBucket(input: {name: $name, modelName: $project, entityName: $entity, state: $state}) { bucket { id } } }")
    variables = {"name": os.environ["WANDB_RUN_ID"], "project": os.environ.get("WANDB_PROJECT"),
                 "entity": os.environ.get("WANDB_ENTITY"), "state": state}
    auth = base64.b64encode(f"api:{os.environ['WANDB_API_KEY']}".encode()).decode()
    request = urllib.request.Request(os.environ["WANDB_BASE_URL"].rstrip("/") + "/graphql",
                                     json.dumps({"query": query, "variables": variables}).encode(),
                                     {"Content-Type": "application/json", "Authorization": "Basic " + auth})
    urllib.request.urlopen(request, timeout=20).read()

run_state("running")
print(f"run {os.environ['WANDB_RUN_ID']} on queue {os.environ['WANDB_LAUNCH_QUEUE_NAME']}: lr={config.get('lr')}, {epochs} epochs")
for epoch in range(1, epochs + 1):
    time.sleep(0.2)
    print(f"epoch {epoch}/{epochs} loss={1.0 / (epoch * config.get('lr', 1) * 100):.4f}")
if config.get("lr", 0) > 0.05:
    print("loss diverged", file=sys.stderr)
    run_state("failed")
    sys.exit(2)
run_state("finished")
'@ | Set-Content (Join-Path $code 'train.py')
$python = (Get-Command python3, python -ErrorAction SilentlyContinue | Select-Object -First 1).Source
if (-not $python) { throw 'The demo needs python3 (or python) on PATH for its jobs.' }

Show-Step 'Submitting four jobs at different priorities'
$jobs = @(
    Submit-WandbLaunchJob -Queue $queue -Project wandblaunch-demo -Uri $code -EntryPoint $python, 'train.py' -RunConfig @{ lr = 0.01 } -Priority Low -Name 'slow-lr'
    Submit-WandbLaunchJob -Queue $queue -Project wandblaunch-demo -Uri $code -EntryPoint $python, 'train.py' -RunConfig @{ lr = 0.1 } -Priority Medium -Name 'too-fast'
    Submit-WandbLaunchJob -Queue $queue -Project wandblaunch-demo -Uri $code -EntryPoint $python, 'train.py' -RunConfig @{ lr = 0.02 } -Priority Critical -Name 'urgent' -TemplateVariable @{ epochs = 4 }
    Submit-WandbLaunchJob -Queue $queue -Project wandblaunch-demo -Uri $code -EntryPoint $python, 'train.py' -RunConfig @{ lr = 0.03 } -Priority High -Name 'important'
)
$jobs | Format-Table

Show-Step 'An agent (a PowerShell background job) runs them, most urgent first, at most 2 at a time'
$agent = Start-WandbLaunchAgent -ConfigPath $configPath -AsJob
$done = $jobs | Wait-WandbLaunchJob -Timeout 120
Stop-Job $agent
Receive-Job $agent 6>&1 | ForEach-Object { "    $_" }
Remove-Job $agent

Show-Step 'Results, in the order they started'
Get-WandbLaunchJob -Queue $queue | Sort-Object StartedAt | Format-Table

Show-Step "Log of the job that failed ($(($done | Where-Object State -eq Failed).Id))"
$done | Where-Object State -eq Failed | Get-WandbLaunchJobLog | ForEach-Object { "    $_" }

Show-Step 'Agents (the one we ran has stopped: W&B''s status for that is KILLED)'
Get-WandbLaunchAgent -IncludeStopped | Format-Table

if ($onWandb) {
    Show-Step "Removing queue $queue"
    # Its items stay CLAIMED on W&B after their runs end (W&B's agent writes no end for them), hence -Force.
    Remove-WandbLaunchQueue -Name $queue -Force -Confirm:$false -ErrorAction Continue
}
if ($server) { $server.Dispose() }
Remove-Item $work -Recurse -Force
if (@($done).Count -ne 4) { throw "Expected 4 jobs to end; $(@($done).Count) did." }
