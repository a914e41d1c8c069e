<#
.SYNOPSIS
    The README's demo: WandbLaunch end to end on a temporary local store.
.DESCRIPTION
    Creates a local-process queue with a template variable and prioritization, writes and validates an agent
    config, submits jobs at different priorities, runs an agent until they finish, and shows the results and a log.
#>
$ErrorActionPreference = 'Stop'
$root = Split-Path $PSScriptRoot -Parent
$work = Join-Path ([IO.Path]::GetTempPath()) ("wandblaunch-demo-" + [guid]::NewGuid().ToString('n').Substring(0, 8))
New-Item -ItemType Directory -Path $work | Out-Null
$env:WANDB_LAUNCH_DB = Join-Path $work 'launch.db'

function Show-Step([string] $Text) { Write-Host "`n== $Text" -ForegroundColor Cyan }

Import-Module (Join-Path $root 'WandbLaunch.psd1')

Show-Step "A local-process queue with a template variable and prioritization (store: $env:WANDB_LAUNCH_DB)"
New-WandbLaunchQueue -Name demo -Resource local-process -Prioritization `
    -Configuration @{ env = @{ EPOCHS = '{{epochs}}' } } `
    -TemplateVariable @{ epochs = @{ type = 'integer'; minimum = 1; maximum = 10; default = 2 } } |
    Format-List

Show-Step 'An agent config (launch-config.yaml), validated'
$configPath = Join-Path $work 'launch-config.yaml'
New-WandbLaunchAgentConfig -Path $configPath -Queue demo -MaxJobs 2 -BuilderType noop | Out-Null
Get-Content $configPath | ForEach-Object { "    $_" }
"Test-WandbLaunchAgentConfig: $(Test-WandbLaunchAgentConfig -Path $configPath)"
Get-WandbLaunchAgentConfig -Path $configPath -Effective | Format-List

Show-Step 'The code the jobs run: a small training script'
$code = Join-Path $work 'code'
New-Item -ItemType Directory -Path $code | Out-Null
@'
import json, os, sys, time
config = json.loads(os.environ.get("WANDB_CONFIG", "{}"))
epochs = int(os.environ["EPOCHS"])
print(f"run {os.environ['WANDB_RUN_ID']} on queue {os.environ['WANDB_LAUNCH_QUEUE_NAME']}: lr={config.get('lr')}, {epochs} epochs")
for epoch in range(1, epochs + 1):
    time.sleep(0.2)
    print(f"epoch {epoch}/{epochs} loss={1.0 / (epoch * config.get('lr', 1) * 100):.4f}")
if config.get("lr", 0) > 0.05:
    print("loss diverged", file=sys.stderr)
    sys.exit(2)
'@ | Set-Content (Join-Path $code 'train.py')
$python = (Get-Command python3, python -ErrorAction SilentlyContinue | Select-Object -First 1).Source
if (-not $python) { throw 'The demo needs python3 (or python) on PATH for its jobs.' }

Show-Step 'Submitting four jobs at different priorities'
$jobs = @(
    Submit-WandbLaunchJob -Queue demo -Uri $code -EntryPoint $python, 'train.py' -RunConfig @{ lr = 0.01 } -Priority Low -Name 'slow-lr'
    Submit-WandbLaunchJob -Queue demo -Uri $code -EntryPoint $python, 'train.py' -RunConfig @{ lr = 0.1 } -Priority Medium -Name 'too-fast'
    Submit-WandbLaunchJob -Queue demo -Uri $code -EntryPoint $python, 'train.py' -RunConfig @{ lr = 0.02 } -Priority Critical -Name 'urgent' -TemplateVariable @{ epochs = 4 }
    Submit-WandbLaunchJob -Queue demo -Uri $code -EntryPoint $python, 'train.py' -RunConfig @{ lr = 0.03 } -Priority High -Name 'important'
)
$jobs | Format-Table

Show-Step 'An agent (a PowerShell background job) runs them, most urgent first, at most 2 at a time'
$agent = Start-WandbLaunchAgent -ConfigPath $configPath -AsJob
$done = $jobs | Wait-WandbLaunchJob -Timeout 120
Stop-Job $agent
Receive-Job $agent 6>&1 | ForEach-Object { "    $_" }
Remove-Job $agent

Show-Step 'Results, in the order they started'
Get-WandbLaunchJob -Queue demo | Sort-Object StartedAt | Format-Table

Show-Step "Log of the job that failed ($(($done | Where-Object State -eq Failed).Id))"
$done | Where-Object State -eq Failed | Get-WandbLaunchJobLog | ForEach-Object { "    $_" }

Show-Step 'Agents (the one we ran has stopped: W&B''s status for that is KILLED)'
Get-WandbLaunchAgent -IncludeStopped | Format-Table

Remove-Item $work -Recurse -Force
if (@($done).Count -ne 4) { throw "Expected 4 jobs to end; $(@($done).Count) did." }
