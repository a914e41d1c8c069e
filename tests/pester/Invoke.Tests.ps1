# Invoke-WandbLaunchJob: queue-less launches, as W&B's `wandb launch` without -q (wandb/cli/cli.py `launch`,
# wandb/sdk/launch/_launch.py `_launch`): run at once, waited for, $? false when the run did not finish. Real SQLite
# store, real child processes; the local-container test runs on the real Docker engine (skipped without it).

BeforeAll {
    . $PSScriptRoot/Common.ps1
    . $PSScriptRoot/JobTestHelpers.ps1
    Import-Module $ModulePath -Force

    $script:InvokeId = 'WandbLaunch.Jobs.InvokeWandbLaunchJobCommand'
    New-TestStore | Out-Null
    $script:Code = New-TestDirectory
    Set-Content (Join-Path $Code 'ok.sh') 'echo "hello from run $WANDB_RUN_ID"'
    Set-Content (Join-Path $Code 'bad.sh') "echo 'about to fail'`nexit 3"
    Set-Content (Join-Path $Code 'slow.sh') "echo 'slow started'`nsleep 60"

    function Invoke-Sh([string] $Script) {
        Invoke-WandbLaunchJob -Resource local-process -Uri $Code -EntryPoint sh, $Script 6>$null
    }
}

AfterAll {
    Get-Job | Where-Object PSJobTypeName -in 'WandbLaunchJob', 'WandbLaunchAgent' | ForEach-Object { $_ | Stop-Job; $_ | Remove-Job -Force }
    Remove-TestDirectories
}

Describe 'Invoke-WandbLaunchJob' {
    It 'runs a local-process job at once, waits for it and writes it finished' {
        $job = Invoke-Sh ok.sh
        $? | Should -BeTrue
        $job.State | Should -Be 'Finished' -Because $job.FailureMessage
        $job.ExitCode | Should -Be 0
        (Get-WandbLaunchJob -Id $job.Id).State | Should -Be 'Finished'
        (Get-WandbLaunchJobLog -Id $job.Id) -join "`n" | Should -Match "hello from run $($job.RunId)"
    }

    It 'shows the job''s progress as an agent does (information stream)' {
        $progress = Invoke-WandbLaunchJob -Resource local-process -Uri $Code -EntryPoint sh, ok.sh 6>&1 | Where-Object { $_ -is [System.Management.Automation.InformationRecord] } |
            ForEach-Object { "$($_.MessageData)" }
        $progress -join "`n" | Should -Match 'without a queue'
        $progress -join "`n" | Should -Match 'finished \(exit code 0\)'
    }

    It 'writes a failed job, then a LaunchJobFailed error, so $? is false (wandb launch exits 1)' {
        $job = Invoke-WandbLaunchJob -Resource local-process -Uri $Code -EntryPoint sh, bad.sh -ErrorVariable failure -ErrorAction SilentlyContinue 6>$null
        $ok = $?
        $ok | Should -BeFalse
        $job.State | Should -Be 'Failed'
        $job.ExitCode | Should -Be 3
        $failure.Count | Should -Be 1
        $failure[0].FullyQualifiedErrorId | Should -BeExactly "LaunchJobFailed,$InvokeId"
        $failure[0].TargetObject | Should -Be $job.Id
        (Get-WandbLaunchJob -Id $job.Id).State | Should -Be 'Failed'
        (Get-WandbLaunchJobLog -Id $job.Id) -join "`n" | Should -Match 'about to fail'
    }

    It 'records the job in a queue of its own that Get-WandbLaunchQueue does not list as the user''s' {
        $job = Invoke-Sh ok.sh
        $job.Project | Should -Be 'wandblaunch-direct'
        @(Get-WandbLaunchQueue).Name | Should -Not -Contain $job.Queue
        @(Get-WandbLaunchJob).Id | Should -Contain $job.Id
    }

    It 'refuses a queue in the reserved project' {
        { New-WandbLaunchQueue -Name mine -Project wandblaunch-direct -Resource local-process -ErrorAction Stop } |
            Should -Throw -ErrorId 'ReservedQueueProject,WandbLaunch.Queues.NewWandbLaunchQueueCommand'
    }

    It 'runs as a PowerShell job with -AsJob (W&B''s --async): Receive-Job gives the launch job' {
        $background = Invoke-WandbLaunchJob -Resource local-process -Uri $Code -EntryPoint sh, ok.sh -AsJob
        $background.PSJobTypeName | Should -Be 'WandbLaunchJob'
        $background.LaunchJobId | Should -Match '^item-'
        $waited = Wait-WandbLaunchJob -Id $background.LaunchJobId -Timeout 60
        $waited.State | Should -Be 'Finished'
        $background | Wait-Job -Timeout 60 | Out-Null
        $background.State | Should -Be 'Completed'
        $received = @($background | Receive-Job)
        $received.Count | Should -Be 1
        $received[0].Id | Should -Be $background.LaunchJobId
        $received[0].State | Should -Be 'Finished'
        $background | Remove-Job
    }

    It 'is stopped by Stop-WandbLaunchJob from another session; -AsJob then gives a LaunchJobStopped error' {
        $background = Invoke-WandbLaunchJob -Resource local-process -Uri $Code -EntryPoint sh, slow.sh -AsJob
        Wait-Until { (Get-WandbLaunchJob -Id $background.LaunchJobId).State -eq 'Running' } -TimeoutSeconds 30
        $stop = Invoke-FreshPwsh -Script "Import-Module `$env:WBL_MODULE; Stop-WandbLaunchJob -Id $($background.LaunchJobId) -Confirm:`$false -ErrorAction Stop" `
            -Environment @{ WANDB_LAUNCH_DB = $env:WANDB_LAUNCH_DB }
        $stop.ExitCode | Should -Be 0 -Because ($stop.Output -join "`n")
        $background | Wait-Job -Timeout 60 | Out-Null
        (Get-WandbLaunchJob -Id $background.LaunchJobId).State | Should -Be 'Stopped'
        $received = @($background | Receive-Job -ErrorVariable stopped -ErrorAction SilentlyContinue)
        $received[0].State | Should -Be 'Stopped'
        @($stopped | Where-Object { "$($_.FullyQualifiedErrorId)" -like 'LaunchJobStopped*' }).Count | Should -Be 1
        $background | Remove-Job
    }

    It 'stops the job when its PowerShell job is stopped (Stop-Job, as W&B''s interrupt ends the run)' {
        $background = Invoke-WandbLaunchJob -Resource local-process -Uri $Code -EntryPoint sh, slow.sh -AsJob
        Wait-Until { (Get-WandbLaunchJob -Id $background.LaunchJobId).State -eq 'Running' } -TimeoutSeconds 30
        $background | Stop-Job
        $job = Get-WandbLaunchJob -Id $background.LaunchJobId
        $job.State | Should -Be 'Stopped'
        Test-ProcessAlive (Get-JobProcessId $job) | Should -BeFalse
        $background | Remove-Job -Force
    }

    It 'stops the job on Ctrl+C (SIGINT) in the foreground' {
        $run = Start-FreshPwsh -Script "Import-Module `$env:WBL_MODULE; Invoke-WandbLaunchJob -Resource local-process -Uri '$Code' -EntryPoint sh, slow.sh" `
            -Environment @{ WANDB_LAUNCH_DB = $env:WANDB_LAUNCH_DB }
        $job = $null
        Wait-Until {
            $script:running = Get-WandbLaunchJob -State Running | Where-Object { (Get-WandbLaunchJobLog -Id $_.Id) -match 'slow started' } | Select-Object -First 1
            $null -ne $script:running
        } -TimeoutSeconds 30
        $job = $script:running
        & kill -INT $run.Process.Id
        Wait-FreshPwsh $run -TimeoutSeconds 60 | Out-Null
        (Get-WandbLaunchJob -Id $job.Id).State | Should -Be 'Stopped'
        Test-ProcessAlive (Get-JobProcessId $job) | Should -BeFalse
    }

    It 'is never taken by a running agent, even one on the same entity' {
        New-WandbLaunchQueue -Name users -Resource local-process | Out-Null
        $agent = Start-TestAgent -Queue users
        try {
            $job = Invoke-Sh ok.sh
            $job.State | Should -Be 'Finished'
            $job.AgentId | Should -Not -Be $agent.AgentId
            (Get-WandbLaunchAgent -Id $agent.AgentId).Queues | Should -Not -Contain $job.Queue
        }
        finally { Stop-TestAgent $agent }
    }

    It 'leaves its queue to Remove-WandbLaunchQueue -Project wandblaunch-direct, which removes it with the job' {
        $job = Invoke-Sh ok.sh
        Remove-WandbLaunchQueue -Project wandblaunch-direct -Name $job.Queue -Confirm:$false
        Get-WandbLaunchJob -Id $job.Id -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        @(Get-WandbLaunchQueue -Project wandblaunch-direct).Name | Should -Not -Contain $job.Queue
    }

    Context 'bad input' {
        It 'refuses an unknown -Resource, naming the allowed ones' {
            $before = @(Get-WandbLaunchJob).Count
            { Invoke-WandbLaunchJob -Resource mainframe -Uri $Code -EntryPoint sh, ok.sh -ErrorAction Stop } |
                Should -Throw -ErrorId "ParameterArgumentValidationError,$InvokeId" -ExpectedMessage '*local-container*'
            @(Get-WandbLaunchJob).Count | Should -Be $before
        }

        It 'refuses an unknown resource in -Spec with InvalidResource and records nothing' {
            $before = @(Get-WandbLaunchJob).Count
            $queues = @(Get-WandbLaunchQueue -Project wandblaunch-direct).Count
            { Invoke-WandbLaunchJob -Spec @{ resource = 'mainframe'; uri = $Code; overrides = @{ entry_point = @('sh', 'ok.sh') } } -ErrorAction Stop } |
                Should -Throw -ErrorId "InvalidResource,$InvokeId" -ExpectedMessage "*'mainframe'*"
            @(Get-WandbLaunchJob).Count | Should -Be $before
            @(Get-WandbLaunchQueue -Project wandblaunch-direct).Count | Should -Be $queues
        }

        It 'refuses a docker image on local-process before recording anything' {
            $before = @(Get-WandbLaunchJob).Count
            { Invoke-WandbLaunchJob -Resource local-process -DockerImage busybox -ErrorAction Stop } | Should -Throw -ErrorId "JobCannotRun,$InvokeId"
            @(Get-WandbLaunchJob).Count | Should -Be $before
        }

        It 'shows what would run under -WhatIf and records nothing' {
            $before = @(Get-WandbLaunchJob).Count
            # What it shows goes to the host, as Submit-WandbLaunchJob -WhatIf's does: read from a child's output.
            $shown = Invoke-FreshPwsh -Script "Import-Module `$env:WBL_MODULE; Invoke-WandbLaunchJob -Resource local-process -Uri '$Code' -EntryPoint sh, ok.sh -WhatIf" `
                -Environment @{ WANDB_LAUNCH_DB = $env:WANDB_LAUNCH_DB }
            $shown.ExitCode | Should -Be 0
            $shown.Output -join "`n" | Should -Match '(?m)^command: sh ok.sh$'
            @(Get-WandbLaunchJob).Count | Should -Be $before
        }
    }
}

Describe 'Invoke-WandbLaunchJob on local-container (real Docker engine)' {
    BeforeAll {
        $script:SkipReason = if ($env:WBL_TEST_DOCKER -ne '1' -and $env:CI -ne 'true') { 'no Docker engine here: WBL_TEST_DOCKER is not 1' }
        $script:Config = Join-Path (New-TestDirectory) 'launch-config.yaml'
        # JSON is YAML: the image is prebuilt, so the noop builder.
        @{ builder = @{ type = 'noop' } } | ConvertTo-Json | Set-Content $Config
    }

    It 'runs an image on local-container, the default resource as in W&B''s _launch' {
        if ($SkipReason) { Set-ItResult -Skipped -Because $SkipReason; return }
        $token = [guid]::NewGuid().ToString('n').Substring(0, 8)
        $job = Invoke-WandbLaunchJob -DockerImage $env:WBL_TEST_BASE_IMAGE -EntryPoint sh, -c -Arguments "echo in-container-$token" -ConfigPath $Config 6>$null
        try {
            $job.Resource | Should -Be 'local-container'
            $job.State | Should -Be 'Finished' -Because $job.FailureMessage
            (Get-WandbLaunchJobLog -Id $job.Id) -join "`n" | Should -Match "in-container-$token"
        }
        finally { if ($job.Handle) { & docker rm -f $job.Handle *> $null } }
    }
}
