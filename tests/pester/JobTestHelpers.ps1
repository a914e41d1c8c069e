# Dot-sourced (after Common.ps1) by Jobs, Agent and Recovery tests: waiting, processes, agents in this and other pwsh processes.

function Wait-Until {
    <# Polls $Condition until it is truthy; throws after $TimeoutSeconds with $Because in the message. #>
    param(
        [Parameter(Mandatory)] [scriptblock] $Condition,
        [double] $TimeoutSeconds = 30,
        [string] $Because = $Condition.ToString(),
        [int] $IntervalMilliseconds = 50
    )
    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    while (-not (& $Condition)) {
        if ([DateTime]::UtcNow -gt $deadline) { throw "Timed out after $TimeoutSeconds s waiting for: $Because" }
        Start-Sleep -Milliseconds $IntervalMilliseconds
    }
}

function Test-ProcessAlive {
    <#
    True while the process runs. A zombie (killed, not yet reaped) counts as gone: here PID 1 reaps orphans
    only every few seconds, and a zombie runs nothing.
    #>
    param([Parameter(Mandatory)] [int] $ProcessId)
    $text = Get-Content "/proc/$ProcessId/stat" -Raw -ErrorAction SilentlyContinue
    if (-not $text) { return $false }
    $state = $text.Substring($text.LastIndexOf(')') + 2, 1)
    $state -notin 'Z', 'X'
}

function Get-JobProcessId {
    <# The pid in a local-process job's handle (pid:<pid>:<start ticks>). #>
    param([Parameter(Mandatory)] $Job)
    $Job.Handle | Should -Match '^pid:\d+:\d+$'
    [int]($Job.Handle -split ':')[1]
}

function Start-TestAgent {
    <# Starts an agent as a PowerShell job in this process and waits until it has registered. #>
    param(
        [Parameter(Mandatory)] [string[]] $Queue,
        [int] $MaxJobs = 1,
        [string] $Name = ('test-agent-' + [guid]::NewGuid().ToString('n').Substring(0, 6))
    )
    $agent = Start-WandbLaunchAgent -Queue $Queue -MaxJobs $MaxJobs -Name $Name -AsJob -ErrorAction Stop
    Wait-Until { $agent.AgentId -or $agent.State -ne 'Running' } -TimeoutSeconds 20 -Because "agent $Name to register"
    $agent.State | Should -Be 'Running'
    $agent
}

function Stop-TestAgent {
    param($Agent)
    foreach ($a in @($Agent)) {
        if ($null -eq $a) { continue }
        $a | Stop-Job
        $a | Remove-Job -Force
    }
}

function Start-AgentProcess {
    <#
    Starts `Start-WandbLaunchAgent` in the foreground of a new pwsh process, with $Environment added to this
    process's environment. Its status lines (information, warnings, errors) go to the returned OutputPath.
    #>
    param(
        [Parameter(Mandatory)] [string[]] $Queue,
        [int] $MaxJobs = 1,
        [Parameter(Mandatory)] [string] $Name,
        [hashtable] $Environment = @{},
        [string] $Directory = (New-TestDirectory),
        # Added to Start-WandbLaunchAgent's command line as they are (e.g. '-Verbose').
        [string] $ExtraArguments = ''
    )
    $script = Join-Path $Directory "agent-$Name.ps1"
    $queues = ($Queue | ForEach-Object { "'$_'" }) -join ','
    Set-Content -Path $script -Value @"
`$ErrorActionPreference = 'Stop'
Import-Module '$script:ModulePath'
Start-WandbLaunchAgent -Queue $queues -MaxJobs $MaxJobs -Name '$Name' $ExtraArguments *>&1 | ForEach-Object { "`$_" }
"@
    $env = @{ WANDB_LAUNCH_DB = $env:WANDB_LAUNCH_DB } + $Environment
    $out = Join-Path $Directory "agent-$Name.out"
    $err = Join-Path $Directory "agent-$Name.err"
    $process = Start-Process -FilePath (Get-PwshCommand) -ArgumentList '-NoProfile', '-NonInteractive', '-File', $script `
        -Environment $env -RedirectStandardOutput $out -RedirectStandardError $err -PassThru
    [pscustomobject]@{ Process = $process; Name = $Name; OutputPath = $out; ErrorPath = $err }
}

function Wait-AgentRegistered {
    <# Waits until the agent started by Start-AgentProcess is in the store, and returns it. #>
    param([Parameter(Mandatory)] $AgentProcess, [double] $TimeoutSeconds = 60)
    Wait-Until {
        (Get-WandbLaunchAgent -Name $AgentProcess.Name) -or $AgentProcess.Process.HasExited
    } -TimeoutSeconds $TimeoutSeconds -Because "agent $($AgentProcess.Name) to register"
    if ($AgentProcess.Process.HasExited) {
        throw "Agent process $($AgentProcess.Name) exited early: $(Get-Content $AgentProcess.OutputPath, $AgentProcess.ErrorPath -Raw -ErrorAction SilentlyContinue)"
    }
    Get-WandbLaunchAgent -Name $AgentProcess.Name
}

function Get-LogEnvironment {
    <# Parses NAME=value lines that a job printed (with `env`) from its log into a hashtable. #>
    param([Parameter(Mandatory)] [string] $JobId)
    $vars = @{}
    foreach ($line in Get-WandbLaunchJobLog -Id $JobId) {
        if ($line -match '^([A-Za-z_][A-Za-z0-9_]*)=(.*)$') { $vars[$Matches[1]] = $Matches[2] }
    }
    $vars
}
