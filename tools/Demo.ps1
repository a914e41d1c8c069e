<#
.SYNOPSIS
    The README's demo: WandbLaunch end to end on a temporary local store.
#>
$ErrorActionPreference = 'Stop'
$root = Split-Path $PSScriptRoot -Parent
$work = Join-Path ([IO.Path]::GetTempPath()) ("wandblaunch-demo-" + [guid]::NewGuid().ToString('n').Substring(0, 8))
New-Item -ItemType Directory -Path $work | Out-Null
$env:WANDB_LAUNCH_DB = Join-Path $work 'launch.db'

function Show-Step([string] $Text) { Write-Host "`n== $Text" -ForegroundColor Cyan }

Import-Module (Join-Path $root 'WandbLaunch.psd1')

Show-Step "A local-process queue with a template variable and prioritization (store: $env:WANDB_LAUNCH_DB)"
$queue = New-WandbLaunchQueue -Name demo -Resource local-process -Prioritization `
    -Configuration @{ env = @{ EPOCHS = '{{epochs}}' } } `
    -TemplateVariable @{ epochs = @{ type = 'integer'; minimum = 1; maximum = 10; default = 3 } }
$queue | Format-List Name, Resource, PrioritizationMode, ConfigurationJson
$queue.TemplateVariables | Format-Table

Show-Step 'Queues in the store'
Get-WandbLaunchQueue | Format-Table

Show-Step 'An agent config (launch-config.yaml), validated'
$configPath = Join-Path $work 'launch-config.yaml'
New-WandbLaunchAgentConfig -Path $configPath -Queue demo -MaxJobs 4 -BuilderType noop | Out-Null
Get-Content $configPath | ForEach-Object { "    $_" }
"Test-WandbLaunchAgentConfig: $(Test-WandbLaunchAgentConfig -Path $configPath)"

Show-Step 'The effective agent config (defaults < file < environment < parameters)'
Get-WandbLaunchAgentConfig -Path $configPath -Effective -MaxJobs 2 | Format-List

Remove-Item $work -Recurse -Force
