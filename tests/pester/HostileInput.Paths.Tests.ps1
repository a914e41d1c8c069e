# Hostile input, paths and names: every value that becomes a path, an object name or a label is refused at Submit
# with its own error id (the store unchanged), and an agent given a store row an older version could have written
# (a run id of '..') deletes nothing outside its work directory. Real store, real agent, real processes.

BeforeAll {
    . $PSScriptRoot/Common.ps1
    . $PSScriptRoot/JobTestHelpers.ps1
    Import-Module $ModulePath -Force

    $script:SubmitId = 'WandbLaunch.Jobs.SubmitWandbLaunchJobCommand'

    function Get-StoreSnapshot {
        <# Every job and queue in the store, as one string. #>
        (@(Get-WandbLaunchJob | ForEach-Object { "$($_.Id)|$($_.State)|$($_.SpecJson)" }) -join "`n") + "`n" + (Get-QueueSnapshot)
    }

    function Set-StoredRunId {
        <# Rewrites a job's run id in the store file with sqlite3, past every check, as an older version could have stored it. #>
        param([Parameter(Mandatory)] [string] $JobId, [Parameter(Mandatory)] [AllowEmptyString()] [string] $RunId)
        & python3 -c @'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
n = c.execute("UPDATE items SET run_id = ?, spec = json_set(spec, '$.run_id', ?) WHERE id = ?", (sys.argv[3], sys.argv[3], sys.argv[2])).rowcount
c.commit()
c.close()
sys.exit(0 if n == 1 else 1)
'@ $env:WANDB_LAUNCH_DB $JobId $RunId
        $LASTEXITCODE | Should -Be 0 -Because "job $JobId is rewritten in the store"
    }
}

AfterAll { Remove-TestDirectories }

Describe 'Submit-WandbLaunchJob refuses hostile names and paths' {
    BeforeAll {
        New-TestStore | Out-Null
        $script:code = New-TestDirectory
        New-WandbLaunchQueue -Name work -Resource local-process | Out-Null
        Submit-WandbLaunchJob -Queue work -Uri $code -EntryPoint 'true' | Out-Null
    }

    Context 'refused values leave the store unchanged' {
        BeforeEach { $script:before = Get-StoreSnapshot }
        AfterEach { Get-StoreSnapshot | Should -BeExactly $script:before -Because 'a refused submit changes nothing stored' }

        It 'refuses <Case> with <ErrorId>, naming the field and the value escaped' -TestCases @(
            @{ Case = "run_id '..'"; ErrorId = 'InvalidRunId'; Field = 'run_id'; Extra = @{ run_id = '..' } }
            @{ Case = "run_id '../x'"; ErrorId = 'InvalidRunId'; Field = 'run_id'; Extra = @{ run_id = '../x' } }
            @{ Case = "run_id '/etc'"; ErrorId = 'InvalidRunId'; Field = 'run_id'; Extra = @{ run_id = '/etc' } }
            @{ Case = 'run_id with NUL'; ErrorId = 'ValueContainsNul'; Field = 'run_id'; Extra = @{ run_id = "ab`0cd" } }
            @{ Case = 'run_id with an ANSI escape'; ErrorId = 'InvalidRunId'; Field = 'run_id'; Extra = @{ run_id = "a`e[2Jb" } }
            @{ Case = 'run_id of 65 characters'; ErrorId = 'InvalidRunId'; Field = 'run_id'; Extra = @{ run_id = 'a' * 65 } }
            @{ Case = "run_id 'a.b'"; ErrorId = 'InvalidRunId'; Field = 'run_id'; Extra = @{ run_id = 'a.b' } }
            @{ Case = "sweep_id '../s'"; ErrorId = 'InvalidSweepId'; Field = 'sweep_id'; Extra = @{ sweep_id = '../s' } }
            @{ Case = "project '..'"; ErrorId = 'InvalidProjectName'; Field = 'project'; Extra = @{ project = '..' } }
            @{ Case = "entity '../../e'"; ErrorId = 'InvalidEntityName'; Field = 'entity'; Extra = @{ entity = '../../e' } }
            @{ Case = 'name with a newline'; ErrorId = 'InvalidRunName'; Field = 'name'; Extra = @{ name = "run`nFAKE LOG LINE" } }
            @{ Case = "working_dir '../..'"; ErrorId = 'InvalidWorkingDir'; Field = 'overrides.working_dir'; Extra = @{ overrides = @{ entry_point = @('true'); working_dir = '../..' } } }
            @{ Case = "working_dir '/'"; ErrorId = 'InvalidWorkingDir'; Field = 'overrides.working_dir'; Extra = @{ overrides = @{ entry_point = @('true'); working_dir = '/' } } }
            @{ Case = "dockerfile '../../etc/passwd'"; ErrorId = 'InvalidDockerfilePath'; Field = 'overrides.dockerfile'; Extra = @{ overrides = @{ entry_point = @('true'); dockerfile = '../../etc/passwd' } } }
            @{ Case = "build_context '..'"; ErrorId = 'InvalidBuildContext'; Field = 'build_context'; Extra = @{ build_context = '..' } }
            @{ Case = "git.version '--upload-pack=…'"; ErrorId = 'InvalidGitVersion'; Field = 'git.version'; Extra = @{ git = @{ version = '--upload-pack=touch /tmp/owned' } } }
        ) {
            $spec = @{ uri = $code; overrides = @{ entry_point = @('true') } }
            foreach ($key in $Extra.Keys) { $spec[$key] = $Extra[$key] }
            $err = { Submit-WandbLaunchJob -Queue work -Spec $spec -ErrorAction Stop } | Should -Throw -PassThru
            $err.FullyQualifiedErrorId | Should -BeExactly "$ErrorId,$SubmitId"
            $err.CategoryInfo.Category | Should -Be 'InvalidArgument'
            $err.Exception.Message | Should -BeLike "*$Field*"
            $err.Exception.Message | Should -Not -Match "[`0`e`n]" -Because 'the value is shown escaped'
            $err.Exception.Message | Should -Not -BeLike '*System.*Exception*'
        }

        It 'refuses -Name and -Project given as parameters the same way' {
            { Submit-WandbLaunchJob -Queue work -Uri $code -EntryPoint 'true' -Name "x`e]0;owned`a" -ErrorAction Stop } |
                Should -Throw -ErrorId "InvalidRunName,$SubmitId"
            { Submit-WandbLaunchJob -Queue work -Uri $code -EntryPoint 'true' -Project 'a/b' -ErrorAction Stop } |
                Should -Throw -ErrorId "InvalidProjectName,$SubmitId"
        }

        It 'refuses a job (artifact) name <Job> with InvalidJobName' -TestCases @(
            @{ Job = 'e/p/../../x' }
            @{ Job = 'e/p/j:../x' }
            @{ Job = 'e/../j' }
        ) {
            { Submit-WandbLaunchJob -Queue work -Spec @{ job = $Job } -ErrorAction Stop } | Should -Throw -ErrorId "InvalidJobName,$SubmitId"
        }

    }

    It 'still takes a W&B-style run id and ordinary names' {
        $job = Submit-WandbLaunchJob -Queue work -Spec @{ uri = $code; run_id = 'a1b2c3d4'; name = 'lr 0.1 / bs 64'; project = 'My Project'; overrides = @{ entry_point = @('true'); working_dir = 'src' } }
        $job.RunId | Should -BeExactly 'a1b2c3d4'
    }
}

Describe 'New-WandbLaunchQueue refuses names with NUL or escapes' {
    BeforeAll { New-TestStore | Out-Null }

    It 'refuses <Case> with InvalidQueueName and shows it escaped' -TestCases @(
        @{ Case = 'NUL'; Name = "q`0x" }
        @{ Case = 'an ANSI escape'; Name = "q`e[31mred" }
    ) {
        $before = Get-QueueSnapshot
        $err = { New-WandbLaunchQueue -Name $Name -Resource local-process -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidQueueName,WandbLaunch.Queues.NewWandbLaunchQueueCommand' -PassThru
        $err.Exception.Message | Should -Not -Match "[`0`e]"
        Get-QueueSnapshot | Should -BeExactly $before
    }
}

Describe 'An agent given a hostile stored run id' {
    BeforeEach {
        # The agent's work directory is <store directory>/runs: a run id of '..' is the store's own directory.
        $script:store = New-TestStore
        $script:storeDir = Split-Path $store
        $script:victim = Join-Path $storeDir 'victim/keep.txt'
        New-Item -ItemType Directory (Split-Path $victim) | Out-Null
        Set-Content -Path $victim -Value 'precious'
        $script:code = New-TestDirectory
        New-WandbLaunchQueue -Name work -Resource local-process | Out-Null
    }

    AfterEach { Stop-TestAgent $script:agent }

    It 'fails the job and deletes nothing outside its work directory (run id <RunId>)' -TestCases @(
        @{ RunId = '..' }
        @{ RunId = '../victim' }
        @{ RunId = '.' }
        @{ RunId = 'VICTIM' }
    ) {
        $job = Submit-WandbLaunchJob -Queue work -Uri $code -EntryPoint 'true'
        $stored = if ($RunId -eq 'VICTIM') { Split-Path $victim } else { $RunId }
        Set-StoredRunId -JobId $job.Id -RunId $stored
        (Get-WandbLaunchJob -Id $job.Id).RunId | Should -BeExactly $stored

        $script:agent = Start-TestAgent -Queue work
        $ended = $job | Wait-WandbLaunchJob -Timeout 60

        Get-Content $victim | Should -BeExactly 'precious'
        Test-Path $store | Should -BeTrue -Because 'the store itself is outside the work directory'
        Test-Path $code | Should -BeTrue
        $ended.State | Should -Be 'Failed' -Because 'the agent checks a stored run id again before using it'
        $ended.FailureMessage | Should -BeLike '*run_id*'
        # Its run directory is named by RunNames, inside the work directory whatever the stored id: the checks above are what counts.
    }
}
