# W&B jobs (artifacts of type job) on the local store: New-/Get-WandbLaunchJobArtifact and Submit-WandbLaunchJob -Job.
# The local store keeps them itself: tables in its file, the files content-addressed beside it.
BeforeAll {
    . $PSScriptRoot/Common.ps1
    Import-Module $ModulePath -Force
    $script:db = New-TestStore
    $script:saved = @{ Entity = $env:WANDB_ENTITY; Project = $env:WANDB_PROJECT; AllowLocal = $env:WANDB_LAUNCH_ALLOW_LOCAL_GIT }
    $env:WANDB_ENTITY = 'pester'
    $env:WANDB_PROJECT = 'jobs'
    $script:code = New-TestDirectory
    Set-Content (Join-Path $code 'train.py') 'print("hi")'
    Set-Content (Join-Path $code 'requirements.txt') 'wandb'
    New-Item -ItemType Directory (Join-Path $code 'wandb') | Out-Null
    Set-Content (Join-Path $code 'wandb/debug.log') 'left out'

    $script:repo = New-TestDirectory
    git -C $repo init --quiet --initial-branch=main
    Set-Content (Join-Path $repo 'train.py') 'print("git")'
    Set-Content (Join-Path $repo 'runtime.txt') '3.10.4'
    git -C $repo add -A
    git -C $repo -c user.name=t -c user.email=t@example.com commit --quiet -m one
    $script:head = (git -C $repo rev-parse HEAD).Trim()

    New-WandbLaunchQueue -Name box -Resource local-container | Out-Null

    function Assert-Refused([scriptblock] $Command, [string] $ErrorId) {
        $thrown = $null
        try { & $Command } catch { $thrown = $_ }
        $thrown | Should -Not -BeNullOrEmpty -Because "it should fail with $ErrorId"
        $thrown.FullyQualifiedErrorId | Should -BeLike "$ErrorId,*"
    }
}

AfterAll {
    $env:WANDB_ENTITY = $saved.Entity
    $env:WANDB_PROJECT = $saved.Project
    $env:WANDB_LAUNCH_ALLOW_LOCAL_GIT = $saved.AllowLocal
    Remove-TestDirectories
}

Describe 'New-WandbLaunchJobArtifact' {
    It 'creates a code job from a directory, and the same directory again is Unchanged' {
        $job = New-WandbLaunchJobArtifact -Path $code -EntryPoint 'python train.py' -Name trainer -Runtime 3.11 -Alias prod -WarningAction SilentlyContinue
        $job.Status | Should -Be 'Created'
        $job.Path | Should -Be 'pester/jobs/trainer:v0'
        $job.SourceType | Should -Be 'artifact'
        $job.EntryPoint | Should -Be @('python', 'train.py')
        $job.Aliases | Should -Contain 'prod'
        $job.Aliases | Should -Contain 'latest'
        $job.Partial | Should -BeTrue

        $again = New-WandbLaunchJobArtifact -Path $code -EntryPoint 'python train.py' -Name trainer -Runtime 3.11 -WarningAction SilentlyContinue
        $again.Status | Should -Be 'Unchanged'
        $again.Version | Should -Be 'v0'
    }

    It 'keeps the code''s files beside the store file, content-addressed by MD5, without the wandb folder' {
        $objects = Join-Path (Split-Path $db -Parent) 'artifacts/obj/md5'
        $train = (Get-FileHash (Join-Path $code 'train.py') -Algorithm MD5).Hash.ToLowerInvariant()
        Join-Path $objects $train.Substring(0, 2) $train.Substring(2) | Should -Exist
        $left = (Get-FileHash (Join-Path $code 'wandb/debug.log') -Algorithm MD5).Hash.ToLowerInvariant()
        Join-Path $objects $left.Substring(0, 2) $left.Substring(2) | Should -Not -Exist
    }

    It 'creates a git job pinned to the commit, with the runtime from runtime.txt, only with the local-git opt-in' {
        $env:WANDB_LAUNCH_ALLOW_LOCAL_GIT = $null
        Assert-Refused { New-WandbLaunchJobArtifact -GitUri $repo -EntryPoint 'python train.py' -ErrorAction Stop } -ErrorId InvalidGitUri
        $env:WANDB_LAUNCH_ALLOW_LOCAL_GIT = '1'
        $job = New-WandbLaunchJobArtifact -GitUri $repo -EntryPoint 'python train.py' -Name gitjob
        $job.SourceType | Should -Be 'repo'
        $job.Source | Should -Be "$repo@$head"
        $job.Runtime | Should -Be '3.10'
    }

    It 'creates an image job whose tag is an alias, and warns that an entry point is ignored' {
        $job = New-WandbLaunchJobArtifact -Image registry.example/team/train:2024.1 -EntryPoint python -WarningVariable warnings -WarningAction SilentlyContinue
        $job.Name | Should -Be 'job-registry.example_team_train'
        $job.Aliases | Should -Contain '2024.1'
        $warnings | Should -Match 'ignoring entrypoint'
    }

    It 'refuses bad input with its own error id and stores nothing' {
        $before = @(Get-WandbLaunchJobArtifact -All).Count
        Assert-Refused { New-WandbLaunchJobArtifact -Path $code -Name 'my job' -ErrorAction Stop } -ErrorId InvalidJobArtifactName
        Assert-Refused { New-WandbLaunchJobArtifact -Path $code -Runtime 3.10.1 -ErrorAction Stop } -ErrorId InvalidJobRuntime
        Assert-Refused { New-WandbLaunchJobArtifact -Path (Join-Path $code 'missing') -ErrorAction Stop } -ErrorId CodeDirectoryNotFound
        Assert-Refused { New-WandbLaunchJobArtifact -Image img:1 -BaseImage python:3.11 -ErrorAction Stop } -ErrorId BaseImageForImageJob
        Get-WandbLaunchJobArtifact -Name 'my_job' -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        @(Get-WandbLaunchJobArtifact -All).Count | Should -Be $before
    }
}

Describe 'Get-WandbLaunchJobArtifact' {
    It 'lists the project''s jobs at their latest version' {
        $jobs = Get-WandbLaunchJobArtifact
        $jobs.Name | Should -Contain 'trainer'
        $jobs.Name | Should -Contain 'gitjob'
        ($jobs | Where-Object Name -EQ trainer).Count | Should -Be 1
        ($jobs | Out-String) | Should -Match 'trainer'
    }

    It 'inspects one version with its wandb-job.json' {
        $job = Get-WandbLaunchJobArtifact -Path pester/jobs/trainer:prod
        $job.Definition.Runtime | Should -Be '3.11'
        $job.Files | Should -Contain 'wandb-job.json'
        $job.Files | Should -Contain 'requirements.frozen.txt'
        ($job | Format-List | Out-String) | Should -Match 'python train.py'
    }

    It 'refuses a missing job or alias with W&B''s errors' {
        Assert-Refused { Get-WandbLaunchJobArtifact -Path pester/jobs/nope -ErrorAction Stop } -ErrorId ArtifactNotFound
        Assert-Refused { Get-WandbLaunchJobArtifact -Path pester/jobs/trainer:v9 -ErrorAction Stop } -ErrorId ArtifactAliasNotFound
    }
}

Describe 'Submit-WandbLaunchJob -Job' {
    It 'stores a job spec with the Dockerfile override' {
        $item = Submit-WandbLaunchJob -Queue box -Job pester/jobs/trainer:prod -Dockerfile docker/Dockerfile
        $spec = $item.GetSpec()
        $spec.JobArtifactName | Should -Be 'pester/jobs/trainer:prod'
        $spec.Overrides.Dockerfile | Should -Be 'docker/Dockerfile'
        $spec.Uri | Should -BeNullOrEmpty
    }

    It 'refuses a job that does not exist before storing anything' {
        $before = @(Get-WandbLaunchJob -Queue box).Count
        Assert-Refused { Submit-WandbLaunchJob -Queue box -Job pester/jobs/nope:latest -ErrorAction Stop } -ErrorId ArtifactNotFound
        @(Get-WandbLaunchJob -Queue box).Count | Should -Be $before
    }

    It 'keeps -Uri as a uri spec on the local store and refuses -BaseImage there' {
        $jobs = @(Get-WandbLaunchJobArtifact -All).Count
        $item = Submit-WandbLaunchJob -Queue box -Uri $code -EntryPoint python, train.py
        $item.GetSpec().Uri | Should -Be $code
        $item.GetSpec().JobArtifactName | Should -BeNullOrEmpty
        @(Get-WandbLaunchJobArtifact -All).Count | Should -Be $jobs -Because 'the local store runs uri specs as they are'
        Assert-Refused { Submit-WandbLaunchJob -Queue box -Uri $code -EntryPoint python, train.py -BaseImage python:3.11 -ErrorAction Stop } -ErrorId UriJobNotSupported
    }
}
