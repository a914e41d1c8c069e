# Faults, signals, process groups and log caps, through the cmdlets in real pwsh processes: SIGTERM, SIGHUP and
# SIGINT to a foreground agent stop it like Ctrl+C; a stopped job takes everything it started with it; a huge log
# stays under its cap and -Tail reads only its end.

BeforeAll {
    . $PSScriptRoot/Common.ps1
    . $PSScriptRoot/JobTestHelpers.ps1
    Import-Module $ModulePath -Force

    function Start-ForegroundAgent {
        <# `Start-WandbLaunchAgent` in the foreground of a new pwsh (pwsh -c), its output to files. #>
        param([string] $Queue, [string] $Name, [string] $Directory, [switch] $LeaveJobsRunning)
        $leave = if ($LeaveJobsRunning) { ' -LeaveJobsRunning' } else { '' }
        $command = "Import-Module '$script:ModulePath'; Start-WandbLaunchAgent -Queue '$Queue' -MaxJobs 2 -Name '$Name'$leave *>&1 | ForEach-Object { `"`$_`" }"
        $out = Join-Path $Directory "agent-$Name.out"
        $err = Join-Path $Directory "agent-$Name.err"
        $process = Start-Process -FilePath (Get-PwshCommand) -ArgumentList '-NoProfile', '-NonInteractive', '-Command', $command `
            -Environment @{ WANDB_LAUNCH_DB = $env:WANDB_LAUNCH_DB } -RedirectStandardOutput $out -RedirectStandardError $err -PassThru
        [pscustomobject]@{ Process = $process; Name = $Name; OutputPath = $out; ErrorPath = $err }
    }
}

Describe 'A signal to a foreground Start-WandbLaunchAgent' {
    BeforeAll {
        New-TestStore | Out-Null
        $script:code = New-TestDirectory
        $script:scratch = New-TestDirectory
        New-WandbLaunchQueue -Name sig -Resource local-process | Out-Null
    }

    It 'SIG<Signal> stops its job and the job''s children, records KILLED, and pwsh exits (<ExitCode>)' -ForEach @(
        @{ Signal = 'TERM'; ExitCode = 143; Leave = $false }
        @{ Signal = 'HUP'; ExitCode = 129; Leave = $false }
        @{ Signal = 'INT'; ExitCode = $null; Leave = $false }
        @{ Signal = 'TERM'; ExitCode = 143; Leave = $true }
    ) {
        $name = "sig-$($Signal.ToLower())-$([guid]::NewGuid().ToString('n').Substring(0, 4))"
        $agent = Start-ForegroundAgent -Queue sig -Name $name -Directory $scratch -LeaveJobsRunning:$Leave
        try {
            Wait-AgentRegistered $agent | Out-Null
            $childFile = Join-Path $scratch "$name.child"
            $job = Submit-WandbLaunchJob -Queue sig -Uri $code -EntryPoint sh -Arguments '-c', 'sleep 1000 & echo $! > "$1"; wait', 'sh', $childFile
            Wait-Until { (Get-WandbLaunchJob -Id $job.Id).State -eq 'Running' -and (Test-Path $childFile) -and (Get-Content $childFile) } -TimeoutSeconds 30 -Because 'the job to run'
            $jobPid = Get-JobProcessId (Get-WandbLaunchJob -Id $job.Id)
            $childPid = [int](Get-Content $childFile)

            & kill "-$Signal" $agent.Process.Id
            $agent.Process.WaitForExit(60000) | Should -BeTrue -Because "pwsh must exit after SIG$Signal"
            $output = Get-Content $agent.OutputPath, $agent.ErrorPath -Raw -ErrorAction SilentlyContinue
            if ($null -ne $ExitCode) { $agent.Process.ExitCode | Should -Be $ExitCode -Because $output }

            $ended = Get-WandbLaunchJob -Id $job.Id
            # A local-process job cannot run without its agent: stopped even with -LeaveJobsRunning, never left Running unwatched.
            $ended.State | Should -Be 'Stopped' -Because $output
            "$($ended.FailureMessage)" | Should -BeLike "*received SIG$Signal*"
            (Get-WandbLaunchAgent -Name $name -IncludeStopped).Status | Should -Be 'KILLED'
            # SIGINT is Ctrl+C: pwsh also stops the pipeline that shows the agent's lines, so they may end early;
            # the job's record (above) carries the reason in every case.
            if ($Signal -ne 'INT') { $output | Should -BeLike "*stopped because it received SIG$Signal*" }
            Wait-Until { -not (Test-ProcessAlive $jobPid) -and -not (Test-ProcessAlive $childPid) } -TimeoutSeconds 10 -Because 'the job''s process and its child to be gone'
            Get-WandbLaunchJob -Queue sig -State Leased, Starting, Running | Should -BeNullOrEmpty
        }
        finally {
            if (-not $agent.Process.HasExited) { Stop-Process -Id $agent.Process.Id -Force }
        }
    }
}

Describe 'SIGTERM to a pwsh running an -AsJob agent' {
    BeforeAll {
        New-TestStore | Out-Null
        $script:code = New-TestDirectory
        $script:scratch = New-TestDirectory
        New-WandbLaunchQueue -Name bg -Resource local-process | Out-Null
    }

    It 'stops the background agent''s job before pwsh exits with 143, instead of leaving it Running unwatched' {
        $childFile = Join-Path $scratch 'child'
        $job = Submit-WandbLaunchJob -Queue bg -Uri $code -EntryPoint sh -Arguments '-c', 'sleep 1000 & echo $! > "$1"; wait', 'sh', $childFile
        $command = "Import-Module '$script:ModulePath'; `$a = Start-WandbLaunchAgent -Queue bg -Name bg-agent -AsJob; Wait-Job `$a | Out-Null"
        $process = Start-Process -FilePath (Get-PwshCommand) -ArgumentList '-NoProfile', '-NonInteractive', '-Command', $command `
            -Environment @{ WANDB_LAUNCH_DB = $env:WANDB_LAUNCH_DB } -RedirectStandardOutput (Join-Path $scratch 'out') -RedirectStandardError (Join-Path $scratch 'err') -PassThru
        try {
            Wait-Until { (Get-WandbLaunchJob -Id $job.Id).State -eq 'Running' -and (Test-Path $childFile) -and (Get-Content $childFile) } -TimeoutSeconds 30 -Because 'the job to run'
            $childPid = [int](Get-Content $childFile)
            & kill -TERM $process.Id
            $process.WaitForExit(60000) | Should -BeTrue
            $process.ExitCode | Should -Be 143
            $ended = Get-WandbLaunchJob -Id $job.Id
            $ended.State | Should -Be 'Stopped'
            $ended.FailureMessage | Should -BeLike '*received SIGTERM*'
            (Get-WandbLaunchAgent -Name bg-agent -IncludeStopped).Status | Should -Be 'KILLED'
            Wait-Until { -not (Test-ProcessAlive $childPid) } -TimeoutSeconds 10 -Because 'the job''s child to be gone'
        }
        finally {
            if (-not $process.HasExited) { Stop-Process -Id $process.Id -Force }
        }
    }
}

Describe 'Stop-WandbLaunchJob on a job that started children and a daemon' {
    BeforeAll {
        New-TestStore | Out-Null
        $script:code = New-TestDirectory
        $script:scratch = New-TestDirectory
        New-WandbLaunchQueue -Name pg -Resource local-process | Out-Null
        $script:agent = Start-TestAgent -Queue pg
    }
    AfterAll { Stop-TestAgent $agent }

    It 'ends the background children, the grandchildren and the daemon that left the session' {
        $pids = Join-Path $scratch 'pids'
        $script = @'
sleep 1000 & echo $! >> "$1"
( sleep 1000 & echo $! >> "$1"; wait ) &
( setsid sh -c 'sleep 1000 & echo $! >> "$0"; exit 0' "$1" & )
wait
'@
        $job = Submit-WandbLaunchJob -Queue pg -Uri $code -EntryPoint sh -Arguments '-c', $script, 'sh', $pids
        Wait-Until { (Test-Path $pids) -and @(Get-Content $pids).Count -ge 3 } -TimeoutSeconds 30 -Because 'the job to start its children'
        $children = @(Get-Content $pids | ForEach-Object { [int]$_ })
        $children | ForEach-Object { Test-ProcessAlive $_ | Should -BeTrue }

        $job | Stop-WandbLaunchJob
        ($job | Wait-WandbLaunchJob -Timeout 30).State | Should -Be 'Stopped'
        Wait-Until { -not ($children | Where-Object { Test-ProcessAlive $_ }) } -TimeoutSeconds 10 -Because 'every process of the job to be gone'
    }
}

Describe 'A job printing hundreds of MB' {
    BeforeAll {
        New-TestStore | Out-Null
        $script:code = New-TestDirectory
        New-WandbLaunchQueue -Name big -Resource local-process | Out-Null
        $env:WANDB_LAUNCH_MAX_LOG_BYTES = '8M'
        try { $script:agent = Start-TestAgent -Queue big }
        finally { $env:WANDB_LAUNCH_MAX_LOG_BYTES = $null }
    }
    AfterAll { Stop-TestAgent $agent }

    It 'leaves a log under WANDB_LAUNCH_MAX_LOG_BYTES, and -Tail returns its newest lines' {
        $job = Submit-WandbLaunchJob -Queue big -Uri $code -EntryPoint sh -Arguments '-c', 'yes "line of output" 2>/dev/null | head -c 300000000; echo; echo the-last-line'
        $ended = $job | Wait-WandbLaunchJob -Timeout 240
        $ended.State | Should -Be 'Finished'
        $size = (Get-ChildItem "$($ended.LogPath)*" -Exclude *.cursor | Measure-Object Length -Sum).Sum
        $size | Should -BeLessOrEqual (8MB)
        $tail = Get-WandbLaunchJobLog -Id $job.Id -Tail 2
        $tail[0] | Should -BeLike '*the-last-line'
        $tail[1] | Should -BeLike '`[agent`] finished*'
    }

    It '-Follow keeps following a log as it rotates past the cap, to its last line' {
        $job = Submit-WandbLaunchJob -Queue big -Uri $code -EntryPoint sh -Arguments '-c', 'sleep 1; yes "line of output" 2>/dev/null | head -c 30000000; echo; echo the-last-line'
        $last = Get-WandbLaunchJobLog -Id $job.Id -Follow -Tail 0 | Where-Object { $_ -eq 'the-last-line' }
        $last | Should -Be 'the-last-line'
        ($job | Wait-WandbLaunchJob -Timeout 60).State | Should -Be 'Finished'
    }

    It 'WANDB_LAUNCH_MAX_LOG_BYTES that is not a size is refused by name when the agent starts' {
        $env:WANDB_LAUNCH_MAX_LOG_BYTES = 'lots'
        try {
            { Start-WandbLaunchAgent -Queue big -AsJob -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidMaxLogBytes*'
        }
        finally { $env:WANDB_LAUNCH_MAX_LOG_BYTES = $null }
    }

    It 'WANDB_LAUNCH_GIT_CACHE_MAX_BYTES that is not a size is refused by name when the agent starts' {
        $env:WANDB_LAUNCH_GIT_CACHE_MAX_BYTES = '2 GB'
        try {
            { Start-WandbLaunchAgent -Queue big -AsJob -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidGitCacheMaxBytes*'
        }
        finally { $env:WANDB_LAUNCH_GIT_CACHE_MAX_BYTES = $null }
    }
}

Describe 'The store under a running agent' {
    BeforeAll {
        New-TestStore | Out-Null
        $script:scratch = New-TestDirectory
        New-WandbLaunchQueue -Name gone -Resource local-process | Out-Null
        New-WandbLaunchQueue -Name kept -Resource local-process | Out-Null
    }

    It 'a removed queue is reported once, removing the last stops the -AsJob agent saying why' {
        $agent = Start-WandbLaunchAgent -Queue gone, kept -AsJob -ErrorAction Stop
        try {
            Wait-Until { $agent.AgentId } -TimeoutSeconds 20
            Remove-WandbLaunchQueue -Name gone -Confirm:$false
            Wait-Until { @($agent.Warning) -match 'Queue gone was removed' } -TimeoutSeconds 20 -Because 'the warning'
            Remove-WandbLaunchQueue -Name kept -Confirm:$false
            Wait-Until { $agent.State -ne 'Running' } -TimeoutSeconds 20
            $agent.StatusMessage | Should -Be 'Stopped because all its queues were removed'
            $agent.StopReason.Reason | Should -Be 'AllQueuesRemoved'
            @($agent.Warning | Where-Object { "$_" -match 'Queue gone was removed' }).Count | Should -Be 1
        }
        finally { Stop-TestAgent $agent }
    }
}
