from jobico.component import main
from jobico.repo.service import RepoService

main("repo", RepoService)
